"""Input the HTTP API cannot serve gets a 4xx naming the problem, never a 500: ids that are
not ASCII digits or beyond the database integer, JSON nested too deep, bodies over the
limit, odd Content-Length headers; and whatever still escapes a route is logged and
answered without a traceback."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from daemon_rig import MakeRig, Rig
from sqlalchemy.exc import DataError, OperationalError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from structlog.testing import capture_logs

from oncall.testing.fake_twilio import twilio_signature
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER
from oncall.web.app import build_app

TOKEN = "api-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PUBLIC = "http://127.0.0.1:18080"


@pytest.fixture
def rig(make_rig: MakeRig) -> Rig:
    return make_rig(api_token=TOKEN, public_url=PUBLIC,
                    twilio={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": FROM_NUMBER,
                            "api_base_url": "http://127.0.0.1:9"})


@pytest.mark.parametrize(("path", "status", "message"), [
    pytest.param("/api/incidents/%C2%B2", 400, "incident id must be a positive integer, got '²'", id="unicode-digit"),
    pytest.param("/api/incidents/%D9%A3", 400, "incident id must be a positive integer, got '٣'", id="arabic-digit"),
    pytest.param("/api/incidents/0", 400, "incident id must be a positive integer, got '0'", id="zero"),
    pytest.param("/api/incidents/-1", 400, "incident id must be a positive integer, got '-1'", id="negative"),
    pytest.param("/api/incidents/99999999999999999999999", 404, "no incident #99999999999999999999999",
                 id="beyond-the-database-integer"),
    pytest.param("/api/incidents/2147483648", 404, "no incident #2147483648", id="one-past-int4"),
    pytest.param("/api/incidents/" + "9" * 5000, 404, "no incident #999999999999999999999999…",
                 id="5000-digits"),
])
def test_bad_incident_ids_are_4xx_with_a_message(rig: Rig, path: str, status: int, message: str) -> None:
    response = rig.request("GET", path, headers=AUTH)
    assert (status, {"error": message}) == (response.status_code, response.json())


def test_ids_with_leading_zeros_name_the_same_incident(rig: Rig) -> None:
    response = rig.request("GET", "/api/incidents/0002147483647", headers=AUTH)
    assert (404, {"error": "no incident #2147483647"}) == (response.status_code, response.json())


@pytest.mark.parametrize("depth", [1_000, 30_000, 100_000])
def test_deeply_nested_json_body_is_400_or_413(rig: Rig, depth: int) -> None:
    response = rig.request("POST", "/api/incidents/1/ack", headers=AUTH, content=b"[" * depth + b"]" * depth)
    if 2 * depth > 64 * 1024:
        assert (413, {"error": "body: larger than 65536 bytes"}) == (response.status_code, response.json())
    else:
        assert 400 == response.status_code
        assert response.json()["error"].startswith("body: not valid JSON (nesting too deep")


@pytest.mark.parametrize(("body", "message"), [
    pytest.param(b"{nope", "body: not valid JSON (Expecting property name enclosed in double quotes", id="syntax"),
    pytest.param(b'{"as": NaN}', "body: not valid JSON (NaN is not valid JSON)", id="nan"),
    pytest.param(b"\xff\xfe", "body: not UTF-8 (byte 0)", id="not-utf8"),
    pytest.param(b"1" * 5000, "body: not valid JSON (Exceeds the limit", id="huge-integer"),
])
def test_unreadable_json_body_is_400_naming_the_reason(rig: Rig, body: bytes, message: str) -> None:
    response = rig.request("POST", "/api/incidents/1/ack", headers=AUTH, content=body)
    assert 400 == response.status_code
    assert response.json()["error"].startswith(message)


@pytest.mark.parametrize(("value", "status"), [("\xb2", 400), ("9" * 5000, 400), ("99999999", 413)])
def test_odd_content_length_on_the_api_is_4xx(rig: Rig, value: str, status: int) -> None:
    response = rig.request("POST", "/api/incidents/1/ack", content=b'{"as": "erin"}',
                           headers=[*AUTH.items(), ("Content-Length", value.encode("latin-1"))])
    assert status == response.status_code


@pytest.mark.parametrize("value", ["\xb2", "9" * 5000])
def test_odd_content_length_on_a_webhook_is_4xx(rig: Rig, value: str) -> None:
    response = rig.request("POST", "/webhooks/tickets/generic", content=b"{}",
                           headers=[("Content-Length", value.encode("latin-1"))])
    assert 400 <= response.status_code < 500


def test_oversized_twilio_form_is_413_before_its_signature_is_checked(rig: Rig) -> None:
    params = {"From": "+12025550143", "Body": "x" * 70_000}
    signature = twilio_signature(AUTH_TOKEN, PUBLIC + "/twilio/sms", params)
    response = rig.request("POST", "/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})
    assert 413 == response.status_code


def test_status_callback_with_a_unicode_digit_error_code_is_accepted(rig: Rig) -> None:
    """ErrorCode "²" passes str.isdigit() but not int(): it is read as no code, not a crash."""
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "failed", "ErrorCode": "²"}
    path = "/twilio/status?key=1-1-0-sms"
    with capture_logs() as events:
        response = rig.request("POST", path, data=params,
                               headers={"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, PUBLIC + path, params)})
    assert 200 == response.status_code
    assert [] == [e for e in events if e["event"] == "http.unhandled_error"]


# ---- the error boundary -----------------------------------------------------------------------

def _raising(exc: Exception) -> list[Route]:
    async def boom(_request: Request) -> Response:
        raise exc

    return [Route("/boom", boom, methods=["GET"])]


def _get(routes: list[Route]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=build_app(routes), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://oncall.test") as client:
            return await client.get("/boom")

    return asyncio.run(go())


@pytest.mark.parametrize(("exc", "status"), [
    (ValueError("bad digits"), 400), (RecursionError(), 400),
    (DataError("SELECT", {}, Exception("integer out of range")), 400),
    (OperationalError("SELECT", {}, Exception("database is locked")), 503),
    (RuntimeError("bug"), 500)])
def test_an_escaping_exception_is_logged_and_answered_without_a_traceback(exc: Exception, status: int) -> None:
    with capture_logs() as events:
        response = _get(_raising(exc))
    assert status == response.status_code
    assert "application/json" == response.headers["content-type"]
    assert response.json()["error"] and "Traceback" not in response.text
    [event] = [e for e in events if e["event"] == "http.unhandled_error"]
    assert ("/boom", type(exc).__name__, True) == (event["path"], event["error"], event["exc_info"])


def test_a_client_gone_mid_request_is_not_an_error() -> None:
    """Nothing is sent back (there is nobody to read it) and nothing is logged as an error."""
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/boom", "raw_path": b"/boom", "query_string": b"",
             "headers": [], "root_path": "", "scheme": "http", "server": ("oncall.test", 80)}
    with capture_logs() as events:
        asyncio.run(build_app(_raising(ClientDisconnect()))(scope, receive, send))  # type: ignore[arg-type]
    assert [] == sent
    assert ["http.client_gone"] == [e["event"] for e in events if e["event"].startswith("http.")]
