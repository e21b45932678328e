"""Whatever a client sends, the daemon's HTTP surface never answers 5xx: the API (ids, query
strings, bodies, headers), the Twilio routes (form bodies, valid and forged signatures),
the webhooks (headers) and the calendar feeds, all through the daemon's own ASGI app."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from oncall.config.settings import Settings
from oncall.daemon import Daemon, open_store
from oncall.sources.signatures import sign_generic
from oncall.testing.fake_twilio import twilio_signature
from oncall.testing.paging import RecordingTransport
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TOKEN = "fuzz-api-token"
SECRET = "fuzz-webhook-secret"
PUBLIC = "http://oncall.test"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "eastern-emergency"
PHONES = ["+12025550143", "+12025550144", "+12025550145"]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class App:
    """The daemon's ASGI app over SQLite, with one open incident (#1) to act on."""

    daemon: Daemon

    def request(self, method: str, url: str, *, content: bytes = b"",
                headers: dict[str, Any] | list[tuple[Any, Any]] | None = None) -> httpx.Response:
        app = self.daemon.build_app()

        async def go() -> httpx.Response:
            # raise_app_exceptions=False: an escaping exception shows up as a 500, not a crash
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
                return await client.request(method, url, content=content, headers=headers)

        with capture_logs() as events:
            response = asyncio.run(go())
        escaped = [e for e in events if e["event"] == "http.unhandled_error"]
        assert not escaped, f"an exception escaped a route (answered {response.status_code}): {escaped}"
        return response


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    db = tmp_path_factory.mktemp("fuzz-http") / "oncall.db"
    daemon = Daemon(Settings(
        config=EXAMPLE, database_url=f"sqlite:///{db}", listen="127.0.0.1:18080", public_url=PUBLIC,
        api_token=TOKEN, sources={"generic": {"secret": SECRET}},
        twilio={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": FROM_NUMBER,
                "api_base_url": "http://127.0.0.1:9"}),
        engine=open_store(f"sqlite:///{db}"), transport=RecordingTransport(), handle_signals=False, out=io.StringIO())
    fuzz = App(daemon)
    body = json.dumps({"id": "T-1", "source": "generic", "subject": "Production down", "priority": "urgent",
                       "status": "new", "created_at": datetime(2026, 11, 28, 8, tzinfo=UTC).isoformat(),
                       "customer": "demo"}).encode()
    assert 202 == fuzz.request("POST", "/webhooks/tickets/generic", content=body,
                               headers={"X-Oncall-Signature": sign_generic(SECRET, body)}).status_code
    daemon.duty("engine").run_once(daemon.clock.now())
    yield fuzz
    daemon.http.close()
    daemon.engine.dispose()


def assert_no_5xx(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text


# ---- strategies ---------------------------------------------------------------------------------

printable = st.characters(blacklist_categories=("Cs", "Cc"))
ids = st.one_of(
    st.integers(min_value=-10, max_value=2**80).map(str),
    st.text(printable, max_size=30),
    st.sampled_from(["²", "٣", "0", "00", "001", "9" * 5000, "1e3", " 1", "+1", "-1", "0x10", "2147483647",
                     "2147483648", "9223372036854775808", "99999999999999999999999", "1.0", "１"]),
)
deep = st.integers(min_value=1, max_value=60_000).flatmap(
    lambda n: st.sampled_from([b"[" * n + b"]" * n, b"[" * n, b'{"as":' * n + b"1" + b"}" * n, b"[" * n + b"1"]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=10)
bodies = st.one_of(
    st.binary(max_size=300), deep, json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"as": json_values}).map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"", b"{}", b'{"as": "erin"}', b'{"as": NaN}', b"1" * 5000, b'{"as": "' + b"x" * 70_000 + b'"}',
                     b"\xff\xfe", b'"\\ud800"', b'{"as": "\\ud800"}']),
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40).map(
    lambda s: s.encode("latin-1"))
headers = st.lists(st.tuples(
    st.sampled_from([b"Authorization", b"Content-Type", b"Content-Length", b"X-Oncall-Signature",
                     b"X-Twilio-Signature", b"Accept", b"Transfer-Encoding", b"X-Oncall-Event-Id",
                     b"X-Forwarded-For", b"Host"]),
    st.one_of(header_text, st.sampled_from([b"\xb2", b"\xc2\xb2", b"9" * 5000, b"-1", b"application/json",
                                            f"Bearer {TOKEN}".encode(), b"Bearer \xff"]))), max_size=4)
queries = st.one_of(st.just(""), st.text(printable, max_size=40).map(lambda q: "?" + quote(q, safe="=&")),
                    st.sampled_from(["?open=1", "?open=%ff", "?open=" + "1" * 5000, "?open&open=2", "?%zz"]))


# ---- the API ------------------------------------------------------------------------------------

@FUZZ
@given(ident=ids, query=queries)
@example(ident="²", query="")
@example(ident="99999999999999999999999", query="")
@example(ident="9" * 5000, query="")
def test_api_show_never_5xx(app: App, ident: str, query: str) -> None:
    assert_no_5xx(app.request("GET", f"/api/incidents/{quote(ident, safe='')}{query}", headers=AUTH))


@FUZZ
@given(ident=ids, action=st.one_of(st.sampled_from(["ack", "escalate", "resolve"]), st.text(printable, max_size=10)),
       body=bodies)
@example(ident="1", action="ack", body=b"[" * 100_000 + b"]" * 100_000)
@example(ident="1", action="ack", body=b"[" * 30_000 + b"]" * 30_000)
def test_api_actions_never_5xx(app: App, ident: str, action: str, body: bytes) -> None:
    path = f"/api/incidents/{quote(ident, safe='')}/{quote(action, safe='')}"
    assert_no_5xx(app.request("POST", path, content=body, headers={**AUTH, "Content-Type": "application/json"}))


@FUZZ
@given(query=queries, extra=headers, method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]),
       path=st.sampled_from(["/api/incidents", "/api/incidents/1", "/api/incidents/1/ack", "/healthz", "/readyz",
                             "/metrics", "/webhooks/tickets/generic", "/twilio/sms", "/calendars/person/erin.ics"]),
       body=bodies)
@example(query="", extra=[(b"Content-Length", b"\xb2")], method="POST", path="/webhooks/tickets/generic",
         body=b"{}")
@example(query="", extra=[(b"Content-Length", b"9" * 5000)], method="POST", path="/api/incidents/1/ack", body=b"{}")
def test_any_route_with_odd_headers_never_5xx(app: App, query: str, extra: list[tuple[bytes, bytes]], method: str,
                                              path: str, body: bytes) -> None:
    sent = [(b"Authorization", f"Bearer {TOKEN}".encode()), *extra]
    assert_no_5xx(app.request(method, path + query, content=body, headers=sent))


@FUZZ
@given(kind=st.one_of(st.sampled_from(["person", "schedule"]), st.text(printable, max_size=10)),
       ident=st.one_of(st.sampled_from(["erin", "emergency", "primary"]), st.text(printable, max_size=20)),
       query=queries)
def test_calendar_feeds_never_5xx(app: App, kind: str, ident: str, query: str) -> None:
    assert_no_5xx(app.request("GET", f"/calendars/{quote(kind, safe='')}/{quote(ident, safe='')}.ics{query}"))


# ---- Twilio ----------------------------------------------------------------------------------------

form_values = st.one_of(st.text(printable, max_size=40), st.sampled_from(PHONES),
                        st.sampled_from(["1a", "ack", "aa", "STOP", "START", "4", "5", "*", "delivered", "undelivered",
                                         "30003", "21610", "²", "machine_start", "99999999999999999999"]))
form_keys = st.one_of(st.sampled_from(["From", "To", "Body", "Digits", "MessageSid", "CallSid", "AccountSid",
                                       "MessageStatus", "CallStatus", "ErrorCode", "AnsweredBy", "SmsStatus"]),
                      st.text(printable, max_size=10))
forms = st.dictionaries(form_keys, form_values, max_size=6)


@FUZZ
@given(path=st.sampled_from(["/twilio/sms", "/twilio/voice/answer", "/twilio/voice/gather", "/twilio/status"]),
       form=forms, key=st.one_of(st.none(), st.text(printable, max_size=30), st.sampled_from(["1-1-0-sms", ""])),
       signed=st.booleans())
@example(path="/twilio/status", form={"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "²"},
         key="1-1-0-sms", signed=True)
def test_twilio_forms_signed_or_forged_never_5xx(app: App, path: str, form: dict[str, str], key: str | None,
                                                 signed: bool) -> None:
    url = httpx.URL(PUBLIC + path, params={"key": key} if key is not None else None)
    query = url.query.decode("ascii")
    signature = twilio_signature(AUTH_TOKEN if signed else "forged", PUBLIC + path + (f"?{query}" if query else ""),
                                 form)
    response = app.request("POST", path + (f"?{query}" if query else ""), content=urlencode(form).encode(),
                           headers={"X-Twilio-Signature": signature,
                                    "Content-Type": "application/x-www-form-urlencoded"})
    assert_no_5xx(response)
    assert (response.status_code == 403) == (not signed)


@FUZZ
@given(path=st.sampled_from(["/twilio/sms", "/twilio/status"]), body=bodies, extra=headers)
def test_twilio_raw_bodies_never_5xx(app: App, path: str, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    assert_no_5xx(app.request("POST", path, content=body, headers=extra))
