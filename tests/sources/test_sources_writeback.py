"""Write-back to Zendesk (recorded by the fake) and to a signed generic callback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from structlog.testing import capture_logs

from oncall.sources.settings import SourceSettings
from oncall.sources.signatures import verify_generic
from oncall.sources.writeback import (
    CallbackWriteBack,
    acknowledged_note,
    escalated_note,
    exhausted_note,
    page_sent_note,
    public_reply_note,
    writeback_for,
)
from oncall.sources.zendesk import ZendeskWriteBack
from oncall.testing.fake_helpdesks import FakeZendesk
from oncall.testing.helpdesk_payloads import zendesk_api_ticket

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with FakeZendesk() as fake:
        fake.put_ticket(zendesk_api_ticket(1042, created_at=NOW))
        yield fake


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def zendesk_writeback(fake: FakeZendesk, http: httpx.Client, sleeps: list[float],
                      **kw: bool) -> ZendeskWriteBack:
    return ZendeskWriteBack(base_url=fake.url, email=fake.email, api_token=fake.api_token,
                            client=http, sleep=sleeps.append, **kw)


def test_internal_notes_recorded_by_fake_zendesk(zendesk: FakeZendesk,
                                                 http: httpx.Client) -> None:
    wb = zendesk_writeback(zendesk, http, [])
    notes = [
        page_sent_note("zendesk", "1042", people=["alice"], at=NOW, incident_id="inc-7"),
        acknowledged_note("zendesk", "1042", by="alice", at=NOW),
        escalated_note("zendesk", "1042", people=["bob", "carol"], step=2, at=NOW),
        exhausted_note("zendesk", "1042", at=NOW),
    ]
    assert [True] * 4 == [wb.post(n) for n in notes]
    comments = zendesk.comments[1042]
    assert [False] * 4 == [c["public"] for c in comments]
    assert "alice" in comments[0]["body"] and "inc-7" in comments[0]["body"]
    assert "acknowledged by alice" in comments[1]["body"]
    assert "bob, carol" in comments[2]["body"]
    assert "exhausted" in comments[3]["body"]
    assert "PUT" == zendesk.requests[-1].method


def test_public_reply_off_by_default(zendesk: FakeZendesk, http: httpx.Client) -> None:
    note = public_reply_note("zendesk", "1042", at=NOW,
                             text="Our desk opens Monday 09:00 CET; we respond within 4h.")
    assert not zendesk_writeback(zendesk, http, []).post(note)
    assert 1042 not in zendesk.comments
    assert zendesk_writeback(zendesk, http, [], allow_public=True).post(note)
    assert [{"body": note.text, "public": True}] == zendesk.comments[1042]


def test_retries_5xx_and_429_then_succeeds(zendesk: FakeZendesk, http: httpx.Client) -> None:
    zendesk.fail_next(500)
    zendesk.fail_next(429, retry_after=7)
    sleeps: list[float] = []
    assert zendesk_writeback(zendesk, http, sleeps).post(exhausted_note("zendesk", "1042",
                                                                        at=NOW))
    assert [1.0, 7.0] == sleeps
    assert 1 == len(zendesk.comments[1042])


def test_gives_up_and_logs_without_raising(zendesk: FakeZendesk, http: httpx.Client) -> None:
    zendesk.down = True
    sleeps: list[float] = []
    with capture_logs() as logs:
        ok = zendesk_writeback(zendesk, http, sleeps).post(
            acknowledged_note("zendesk", "1042", by="alice", at=NOW))
    assert not ok
    assert [1.0, 2.0] == sleeps
    assert "writeback.failed" in [e["event"] for e in logs]


def test_unknown_ticket_is_not_retried(zendesk: FakeZendesk, http: httpx.Client) -> None:
    sleeps: list[float] = []
    assert not zendesk_writeback(zendesk, http, sleeps).post(
        exhausted_note("zendesk", "999", at=NOW))
    assert [] == sleeps


def test_unreachable_helpdesk_never_raises(http: httpx.Client) -> None:
    fake = FakeZendesk().start()
    url = fake.url
    fake.stop()
    wb = ZendeskWriteBack(base_url=url, email="a", api_token="b", client=http,
                          sleep=lambda s: None)
    assert not wb.post(exhausted_note("zendesk", "1", at=NOW))


def test_generic_callback_is_signed_like_inbound_webhooks() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        wb = CallbackWriteBack(url="http://127.0.0.1:9/notes", secret="cb-secret",
                               client=client, sleep=lambda s: None)
        assert wb.post(acknowledged_note("generic", "T-1", by="alice", at=NOW))
    [request] = seen
    body = request.content
    verify_generic("cb-secret", body, request.headers["X-Oncall-Signature"])
    data = json.loads(body)
    assert ("T-1", "acknowledged", False) == (data["ticket_id"], data["kind"], data["public"])


def test_writeback_for_chooses_by_settings(http: httpx.Client) -> None:
    zd = SourceSettings.model_validate({"write_back": True, "base_url": "https://a.zendesk.com",
                                        "email": "e@x", "api_token": "t"})
    cb = SourceSettings.model_validate({"write_back": True, "secret": "s",
                                        "callback_url": "https://hooks.example/notes"})
    assert isinstance(writeback_for("zendesk", zd, http), ZendeskWriteBack)
    assert isinstance(writeback_for("generic", cb, http), CallbackWriteBack)
    assert writeback_for("zendesk", SourceSettings(), http) is None
    assert writeback_for("freshdesk", SourceSettings(write_back=True), http) is None
