"""A fake Twilio REST API on 127.0.0.1, faithful enough for the real ``twilio`` library.

It implements the two endpoints oncall calls (Messages and Calls), checks HTTP basic
auth, answers with realistic JSON and error bodies, records everything, injects
failures (429, 5xx, slow responses, dropped connections, 21610, 21211…), and plays
the other direction: status callbacks, inbound SMS and keypresses, signed exactly as
Twilio signs them (HMAC-SHA1 of the full URL plus sorted POST parameters).

    with FakeTwilio(account_sid, auth_token) as fake:
        settings = TwilioSettings(..., api_base_url=fake.base_url)
        ...
        fake.fail_next(2, status=500)
        [sms] = fake.wait_for_messages(1, timeout=5)
        fake.send_status(sms, "delivered")
        fake.send_sms_reply(daemon_url, from_=phone, to=sms.from_, body="1a")
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
from twilio.request_validator import RequestValidator

FailureStatus = int | Literal["timeout", "drop"]

_DEFAULT_CODES: dict[int, tuple[int, str]] = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}
_CODE_MESSAGES = {
    21211: "The 'To' number {to} is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number {to} is not a valid mobile number",
    20003: "Authenticate",
}
_PATH = re.compile(r"/2010-04-01/Accounts/([^/]+)/(Messages|Calls)\.json")


@dataclass(frozen=True, kw_only=True)
class Failure:
    """What the fake does instead of accepting a request."""

    status: FailureStatus
    code: int | None = None
    message: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecordedRequest:
    """Every request the fake received, accepted or not."""

    method: str
    path: str
    params: dict[str, list[str]]
    authorized: bool
    outcome: str  # "201", "429", "timeout", "drop"…

    def get(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[-1] if values else None


@dataclass(frozen=True, kw_only=True)
class SentMessage:
    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    params: dict[str, list[str]] = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class PlacedCall:
    sid: str
    to: str
    from_: str
    twiml: str | None
    url: str | None
    status_callback: str | None
    status_callback_events: tuple[str, ...]
    machine_detection: str | None
    params: dict[str, list[str]] = field(repr=False)

    @property
    def gather_action(self) -> str | None:
        """The ``action`` URL of the first ``<Gather>`` in the call's TwiML."""
        if not self.twiml:
            return None
        gather = ET.fromstring(self.twiml).find(".//Gather")  # noqa: S314 - our own TwiML
        return None if gather is None else gather.get("action")


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """``X-Twilio-Signature`` for a POST of ``params`` to ``url``."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


class FakeTwilio:
    """The fake server; use as a context manager (starts a thread, stops it on exit)."""

    def __init__(self, account_sid: str, auth_token: str, *, hold_seconds: float = 5.0) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.hold_seconds = hold_seconds  # how long a "timeout" failure holds the socket
        self.requests: list[RecordedRequest] = []
        self.messages: list[SentMessage] = []
        self.calls: list[PlacedCall] = []
        self._next_failures: list[Failure] = []
        self._number_failures: dict[str, Failure] = {}
        self._cond = threading.Condition()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval makes shutdown (every test's teardown) quick.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        name="fake-twilio", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._release.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- failure injection -----------------------------------------------------------------
    def fail_next(self, n: int, status: FailureStatus = 500, code: int | None = None,
                  message: str | None = None) -> None:
        """Fail the next ``n`` Messages/Calls requests (429 ⇒ code 20429 by default)."""
        with self._cond:
            self._next_failures.extend([Failure(status=status, code=code, message=message)] * n)

    def fail_number(self, number: str, status: FailureStatus = 400, code: int | None = 21610,
                    message: str | None = None, *, kinds: tuple[str, ...] = ("Messages",)) -> None:
        """Fail every request of ``kinds`` ("Messages", "Calls") to ``number`` until
        :meth:`clear_failures`. By default only SMS: an unsubscribed (21610) number can still be called."""
        with self._cond:
            for kind in kinds:
                self._number_failures[f"{kind}:{number}"] = Failure(status=status, code=code, message=message)

    def clear_failures(self) -> None:
        with self._cond:
            self._next_failures.clear()
            self._number_failures.clear()

    def release_held(self) -> None:
        """Let go of requests held by a "timeout" failure."""
        self._release.set()

    # -- waiting ---------------------------------------------------------------------------
    def wait_for_messages(self, n: int, timeout: float = 5.0) -> list[SentMessage]:
        """Block until at least ``n`` messages were accepted; TimeoutError otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= n, timeout):
                raise TimeoutError(f"expected {n} messages, got {len(self.messages)}")
            return list(self.messages)

    def wait_for_calls(self, n: int, timeout: float = 5.0) -> list[PlacedCall]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.calls) >= n, timeout):
                raise TimeoutError(f"expected {n} calls, got {len(self.calls)}")
            return list(self.calls)

    # -- Twilio → daemon -------------------------------------------------------------------
    def sign(self, url: str, params: Mapping[str, str]) -> str:
        return twilio_signature(self.auth_token, url, params)

    def post_signed(self, url: str, params: Mapping[str, str], *, via: str | None = None,
                    signature: str | None = None) -> httpx.Response:
        """POST form ``params`` to ``url`` signed as Twilio does.

        ``via`` (a base URL) sends the request elsewhere while signing ``url``, as when
        the daemon sits behind a proxy at ONCALL_PUBLIC_URL. ``signature`` overrides
        the computed one (forgery tests); pass "" to send no signature header.
        """
        target = url
        if via is not None:
            base, parts = urlsplit(via), urlsplit(url)
            target = urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))
        sig = self.sign(url, params) if signature is None else signature
        headers = {"User-Agent": "TwilioProxy/1.1",
                   "I-Twilio-Idempotency-Token": secrets.token_hex(16)}
        if sig:
            headers["X-Twilio-Signature"] = sig
        return httpx.post(target, data=dict(params), headers=headers, timeout=10.0)

    def send_sms_reply(self, daemon_url: str, from_: str, to: str, body: str, *,
                       via: str | None = None, signature: str | None = None) -> httpx.Response:
        """An inbound SMS to ``daemon_url``/twilio/sms (the daemon's public URL)."""
        sid = _sid("SM")
        params = {"MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid,
                  "AccountSid": self.account_sid, "From": from_, "To": to, "Body": body,
                  "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
                  "ApiVersion": "2010-04-01"}
        return self.post_signed(daemon_url.rstrip("/") + "/twilio/sms", params, via=via,
                                signature=signature)

    def send_keypress(self, call: PlacedCall, digits: str, *, via: str | None = None,
                      url: str | None = None) -> httpx.Response:
        """A keypress during ``call``, posted to its Gather action (or ``url``)."""
        action = url or call.gather_action
        if action is None:
            raise ValueError("the call's TwiML has no <Gather action=...>")
        params = {"CallSid": call.sid, "AccountSid": self.account_sid, "From": call.from_,
                  "To": call.to, "Called": call.to, "Caller": call.from_, "Digits": digits,
                  "CallStatus": "in-progress", "Direction": "outbound-api",
                  "FinishedOnKey": "", "msg": "Gather End", "ApiVersion": "2010-04-01"}
        return self.post_signed(action, params, via=via)

    def send_status(self, item: SentMessage | PlacedCall, status: str, *,
                    error_code: int | None = None, answered_by: str | None = None,
                    via: str | None = None) -> httpx.Response:
        """The status callback Twilio posts for ``item`` (message or call)."""
        if item.status_callback is None:
            raise ValueError(f"{item.sid} was sent without a status callback")
        params: dict[str, str] = {"AccountSid": self.account_sid, "To": item.to,
                                  "ApiVersion": "2010-04-01"}
        if isinstance(item, SentMessage):
            params.update({"MessageSid": item.sid, "SmsSid": item.sid, "MessageStatus": status,
                           "SmsStatus": status})
            if item.from_:
                params["From"] = item.from_
            if item.messaging_service_sid:
                params["MessagingServiceSid"] = item.messaging_service_sid
        else:
            params.update({"CallSid": item.sid, "CallStatus": status, "From": item.from_,
                           "Called": item.to, "Caller": item.from_,
                           "Direction": "outbound-api",
                           "CallbackSource": "call-progress-events",
                           "Timestamp": formatdate(usegmt=True)})
            if status == "completed":
                params["CallDuration"] = "12"
            if answered_by is not None:
                params["AnsweredBy"] = answered_by
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return self.post_signed(item.status_callback, params, via=via)

    # -- server side -----------------------------------------------------------------------
    def _failure_for(self, to: str | None, kind: str = "Messages") -> Failure | None:
        with self._cond:
            if to is not None and f"{kind}:{to}" in self._number_failures:
                return self._number_failures[f"{kind}:{to}"]
            if self._next_failures:
                return self._next_failures.pop(0)
        return None

    def _record(self, request: RecordedRequest, item: SentMessage | PlacedCall | None) -> None:
        with self._cond:
            self.requests.append(request)
            if isinstance(item, SentMessage):
                self.messages.append(item)
            elif isinstance(item, PlacedCall):
                self.calls.append(item)
            self._cond.notify_all()

    def _handle(self, path: str, auth_header: str | None,
                params: dict[str, list[str]]) -> tuple[FailureStatus, dict[str, Any]]:
        """Decide the answer to one POST: (HTTP status or failure kind, JSON body)."""
        def one(name: str) -> str | None:
            values = params.get(name)
            return values[-1] if values else None

        match = _PATH.fullmatch(path)
        if match is None:
            return 404, _error(20404, "The requested resource was not found", 404)
        if not self._authorized(match.group(1), auth_header):
            return 401, _error(20003, "Authenticate", 401)
        to = one("To")
        failure = self._failure_for(to, match.group(2))
        if failure is not None:
            if not isinstance(failure.status, int):
                return failure.status, {}
            code, text = failure.code, failure.message
            if code is None and failure.status in _DEFAULT_CODES:
                code, text = _DEFAULT_CODES[failure.status][0], text
            default = _DEFAULT_CODES.get(failure.status, (0, "Error"))[1]
            text = text or _CODE_MESSAGES.get(code or 0, default).format(to=to)
            return failure.status, _error(code, text, failure.status)
        if match.group(2) == "Messages":
            return self._create_message(params, one)
        return self._create_call(params, one)

    def _authorized(self, path_sid: str, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user == self.account_sid == path_sid
                and secrets.compare_digest(password, self.auth_token))

    def _create_message(self, params: dict[str, list[str]],
                        one: Any) -> tuple[FailureStatus, dict[str, Any]]:
        to, sender, service, body = one("To"), one("From"), one("MessagingServiceSid"), one("Body")
        if not to or not to.startswith("+"):
            return 400, _error(21211, _CODE_MESSAGES[21211].format(to=to), 400)
        if not sender and not service:
            return 400, _error(21603, "A 'From' or 'MessagingServiceSid' parameter is required",
                               400)
        if not body:
            return 400, _error(21602, "Message body is required.", 400)
        sid = _sid("SM")
        self._record(self._request("Messages", params, "201"), SentMessage(
            sid=sid, to=to, from_=sender, messaging_service_sid=service, body=body,
            status_callback=one("StatusCallback"), params=params))
        return 201, {
            "sid": sid, "account_sid": self.account_sid, "to": to, "from": sender,
            "messaging_service_sid": service, "body": body,
            "status": "accepted" if service and not sender else "queued",
            "num_segments": "1", "num_media": "0", "direction": "outbound-api",
            "api_version": "2010-04-01", "price": None, "price_unit": "USD",
            "error_code": None, "error_message": None,
            "date_created": formatdate(usegmt=True), "date_updated": formatdate(usegmt=True),
            "date_sent": None, "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/"
                                      f"{sid}.json", "subresource_uris": {}}

    def _create_call(self, params: dict[str, list[str]],
                     one: Any) -> tuple[FailureStatus, dict[str, Any]]:
        to, sender, twiml, url = one("To"), one("From"), one("Twiml"), one("Url")
        if not to or not to.startswith("+"):
            return 400, _error(21211, _CODE_MESSAGES[21211].format(to=to), 400)
        if not sender:
            return 400, _error(21212, "Invalid 'From' Phone Number", 400)
        if not twiml and not url:
            return 400, _error(21205, "Url or Twiml parameter is required", 400)
        sid = _sid("CA")
        self._record(self._request("Calls", params, "201"), PlacedCall(
            sid=sid, to=to, from_=sender, twiml=twiml, url=url,
            status_callback=one("StatusCallback"),
            status_callback_events=tuple(params.get("StatusCallbackEvent", [])),
            machine_detection=one("MachineDetection"), params=params))
        return 201, {
            "sid": sid, "account_sid": self.account_sid, "to": to, "to_formatted": to,
            "from": sender, "from_formatted": sender, "status": "queued",
            "direction": "outbound-api", "api_version": "2010-04-01", "answered_by": None,
            "parent_call_sid": None, "price": None, "price_unit": "USD",
            "date_created": formatdate(usegmt=True), "date_updated": formatdate(usegmt=True),
            "start_time": None, "end_time": None, "duration": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}.json",
            "subresource_uris": {}}

    def _request(self, kind: str, params: dict[str, list[str]], outcome: str) -> RecordedRequest:
        path = f"/2010-04-01/Accounts/{self.account_sid}/{kind}.json"
        return RecordedRequest(method="POST", path=path, params=params, authorized=True,
                               outcome=outcome)


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _error(code: int | None, message: str, status: int) -> dict[str, Any]:
    return {"code": code, "message": message, "status": status,
            "more_info": f"https://www.twilio.com/docs/errors/{code}"}


def _handler_for(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean; everything is in fake.requests

        def do_GET(self) -> None:
            self._answer(405, _error(20004, "Method not allowed", 405))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8")
            params: dict[str, list[str]] = {}
            for key, value in parse_qsl(raw, keep_blank_values=True):
                params.setdefault(key, []).append(value)
            path = urlsplit(self.path).path
            status, body = fake._handle(path, self.headers.get("Authorization"), params)
            if status != 201:
                fake._record(RecordedRequest(
                    method="POST", path=path, params=params, authorized=status != 401,
                    outcome=str(status)), None)
            if status == "timeout":
                fake._release.wait(fake.hold_seconds)
                self.close_connection = True
                return
            if status == "drop":
                self.close_connection = True
                return
            assert isinstance(status, int)
            self._answer(status, body)

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Twilio-Request-Id", _sid("RQ"))
            self.end_headers()
            self.wfile.write(data)

    return Handler
