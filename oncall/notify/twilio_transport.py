"""SMS and voice pages through Twilio's REST API with the official ``twilio`` library.

Status callbacks and keypresses come back to ``public_url`` (see ``inbound.py``),
each URL carrying the ledger key so the daemon can match them to its ledger row.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
import structlog
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from oncall.errors import AddressOptedOut, ConfigError, DeliveryError, PermanentDeliveryError
from oncall.interfaces import Channel, Outbound, SendResult
from oncall.notify.privacy import mask_phone, redact_numbers
from oncall.notify.retry import RetryPolicy, TransientError
from oncall.notify.settings import TWILIO_API_BASE_URL, TwilioSettings

log = structlog.get_logger(__name__)

# Errors about the recipient: retrying cannot help, the contact method is dead.
# https://www.twilio.com/docs/api/errors
PERMANENT_CODES = {
    21211: "invalid 'To' number",
    21214: "'To' number cannot be reached",
    21408: "region not enabled for this number",
    21610: "recipient replied STOP (unsubscribed)",
    21612: "'To' number not reachable by SMS",
    21614: "'To' number is not a mobile number",
    13224: "invalid phone number for calls",
}
# The recipient texted STOP to our number: the carrier refuses our texts until START. Said
# as oncall's AddressOptedOut, at send time and in status callbacks (see status.py).
OPTED_OUT = 21610
RATE_LIMITED = 20429
# Account-level failures: every page fails, but the person's number is not to blame.
_ACCOUNT_STATUSES = {401, 403, 404}
OUTAGE_THRESHOLD = 3
VOICE_EVENTS = ["initiated", "ringing", "answered", "completed"]


def opted_out(code: int | None) -> bool:
    """Whether Twilio's error ``code`` says the recipient texted STOP."""
    return code == OPTED_OUT


def refusal(text: str, code: int | None) -> PermanentDeliveryError:
    """Twilio refusing a recipient, as oncall's error: :class:`AddressOptedOut` for one who
    texted STOP, else :class:`PermanentDeliveryError`; ``code`` is kept for metrics and logs."""
    error = AddressOptedOut if opted_out(code) else PermanentDeliveryError
    return error(text, code=code)


class _RebasingHttpClient(HttpClient):  # type: ignore[misc]
    """Sends every request to ``base_url`` instead of ``*.twilio.com``.

    Covers all Twilio domains and wins over ``TWILIO_EDGE``/``TWILIO_REGION``,
    which rewrite hostnames but can never point at a local server.
    """

    def __init__(self, inner: Any, base_url: str) -> None:
        super().__init__(inner.logger, False, inner.timeout)
        self._inner = inner
        self._base = urlsplit(base_url.rstrip("/"))

    def request(self, method: str, uri: str, params: Any = None, data: Any = None,
                headers: Any = None, auth: Any = None, timeout: float | None = None,
                allow_redirects: bool = False) -> Any:
        parts = urlsplit(uri)
        rebased = urlunsplit((self._base.scheme, self._base.netloc, self._base.path + parts.path,
                              parts.query, parts.fragment))
        return self._inner.request(method, rebased, params=params, data=data, headers=headers,
                                   auth=auth, timeout=timeout, allow_redirects=allow_redirects)


class TwilioTransport:
    """SMS (from a number or a messaging service) and voice calls with keypress acks.

    ``send`` raises DeliveryError after bounded retries of 429/5xx/timeouts,
    PermanentDeliveryError(code=…) when the number itself cannot be paged, and
    AddressOptedOut when its owner texted STOP.
    """

    name = "twilio"

    def __init__(self, settings: TwilioSettings, public_url: str | None, *,
                 http_client: Any | None = None, retry: RetryPolicy | None = None,
                 timeout: float = 5.0) -> None:
        if not settings.configured or settings.account_sid is None or settings.auth_token is None:
            raise ConfigError("twilio: account_sid, auth_token and from_number or "
                              "messaging_service_sid are all required")
        if not public_url:
            raise ConfigError("twilio: ONCALL_PUBLIC_URL is required for status callbacks "
                              "and keypresses")
        self._settings = settings
        self._public_url = public_url.rstrip("/")
        self._retry = retry or RetryPolicy()
        inner = http_client if http_client is not None else TwilioHttpClient(
            timeout=timeout, logger=logging.getLogger("twilio.http_client"))
        base = settings.base_url
        http = inner if base == TWILIO_API_BASE_URL else _RebasingHttpClient(inner, base)
        self._client = Client(settings.account_sid, settings.auth_token.get_secret_value(),
                              http_client=http)
        # Edge/region from the environment would send pages somewhere unexpected.
        self._client.edge = None
        self._client.region = None
        self._lock = threading.Lock()
        self._consecutive_failures = 0
        self.outages = 0  # outages suspected so far: a short one still shows (see ``healthy``)

    def channels(self) -> frozenset[Channel]:
        # A messaging service cannot place calls; voice needs a number of our own.
        if self._settings.from_number:
            return frozenset({Channel.SMS, Channel.VOICE})
        return frozenset({Channel.SMS})

    @property
    def healthy(self) -> bool:
        """False after several pages in a row failed for Twilio-side reasons."""
        with self._lock:
            return self._consecutive_failures < OUTAGE_THRESHOLD

    def callback_url(self, path: str, key: str) -> str:
        return f"{self._public_url}{path}?key={quote(key, safe='')}"

    def voice_twiml(self, message: Outbound) -> str:
        """The call's TwiML: the script inside a one-digit Gather, read three times."""
        response = VoiceResponse()
        gather = response.gather(num_digits=1, action=self.callback_url(
            "/twilio/voice/gather", message.key), method="POST", timeout=5)
        gather.say(message.text, loop=3)
        response.say("No key pressed. The page continues. Goodbye.")
        response.hangup()
        return str(response)

    def send(self, message: Outbound) -> SendResult:
        if message.channel not in self.channels():
            raise PermanentDeliveryError(
                f"twilio transport cannot send {message.channel} (voice needs from_number)")
        attempt = self._send_sms if message.channel is Channel.SMS else self._place_call
        masked = mask_phone(message.to)
        try:
            result = self._retry.run(lambda: self._classified(attempt, message))
        except TransientError as exc:
            self._note_failure(str(exc))
            log.error("twilio.send_failed", key=message.key, channel=str(message.channel),
                      to=masked, error=str(exc))
            raise DeliveryError(f"twilio {message.channel} to {masked} failed after "
                                f"retries: {exc}") from None
        except PermanentDeliveryError as exc:
            log.error("twilio.send_refused", key=message.key, channel=str(message.channel),
                      to=masked, code=exc.code, error=str(exc))
            raise
        except DeliveryError as exc:
            self._note_failure(str(exc))
            log.critical("twilio.account_error", key=message.key, error=str(exc))
            raise
        with self._lock:
            self._consecutive_failures = 0
        log.info("twilio.sent", key=message.key, channel=str(message.channel), to=masked,
                 sid=result.provider_id, status=result.status)
        return result

    def _note_failure(self, error: str) -> None:
        with self._lock:
            self._consecutive_failures += 1
            count = self._consecutive_failures
        if count == OUTAGE_THRESHOLD:
            with self._lock:
                self.outages += 1
            log.critical("twilio.outage_suspected", consecutive_failures=count, error=error)

    def _send_sms(self, message: Outbound) -> SendResult:
        sender: dict[str, str] = (
            {"messaging_service_sid": self._settings.messaging_service_sid}
            if self._settings.messaging_service_sid
            else {"from_": self._settings.from_number or ""})
        sent = self._client.messages.create(
            to=message.to, body=message.text,
            status_callback=self.callback_url("/twilio/status", message.key), **sender)
        return SendResult(provider_id=sent.sid, status=str(sent.status))

    def _place_call(self, message: Outbound) -> SendResult:
        call = self._client.calls.create(
            to=message.to, from_=self._settings.from_number, twiml=self.voice_twiml(message),
            status_callback=self.callback_url("/twilio/status", message.key),
            status_callback_event=VOICE_EVENTS, status_callback_method="POST",
            machine_detection="Enable")
        return SendResult(provider_id=call.sid, status=str(call.status))

    @staticmethod
    def _classified(attempt: Any, message: Outbound) -> SendResult:
        """Run one attempt, turning library errors into retryable or final ones."""
        try:
            result: SendResult = attempt(message)
            return result
        except TwilioRestException as exc:
            code = exc.code if isinstance(exc.code, int) else None
            detail = redact_numbers(str(exc.msg))
            text = f"HTTP {exc.status}" + (f" code {code}" if code else "") + f": {detail}"
            if exc.status == 429 or code == RATE_LIMITED or exc.status >= 500:
                raise TransientError(text) from None
            if code in PERMANENT_CODES:
                raise refusal(f"{PERMANENT_CODES[code]} ({text})", code) from None
            if exc.status in _ACCOUNT_STATUSES:
                raise DeliveryError(f"twilio account or URL rejected ({text})") from None
            raise refusal(text, code) from None
        except requests.Timeout:
            raise TransientError("timed out") from None
        except requests.ConnectionError as exc:
            raise TransientError(f"connection failed: {type(exc).__name__}") from None
