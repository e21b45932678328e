"""Pollers against the fake Zendesk and Freshdesk servers (real HTTP on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from oncall.sources.freshdesk import FreshdeskPoller
from oncall.sources.health import SourceHealth
from oncall.sources.pollers import (
    backoff,
    retry_after,
    run_poller,
)
from oncall.sources.settings import SourceMapping, SourceSettings
from oncall.sources.zendesk import ZendeskPoller
from oncall.testing.fake_helpdesk_store import MemoryCursors, MemorySink
from oncall.testing.fake_helpdesks import FakeFreshdesk, FakeZendesk
from oncall.testing.helpdesk_payloads import freshdesk_api_ticket, zendesk_api_ticket
from oncall.tickets import Priority, Status

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with FakeZendesk(page_size=2) as fake:
        fake.add_organization(501, "Acme Corp", tags=("cust_acme",))
        fake.add_user(601, "ops@acme.example")
        yield fake


@pytest.fixture
def freshdesk() -> Iterator[FakeFreshdesk]:
    with FakeFreshdesk() as fake:
        fake.add_contact(3001, "ops@acme.example")
        yield fake


class Rig:
    def __init__(self, poller: ZendeskPoller | FreshdeskPoller, sink: MemorySink,
                 cursors: MemoryCursors, health: SourceHealth) -> None:
        self.poller, self.sink, self.cursors, self.health = poller, sink, cursors, health


def zendesk_rig(fake: FakeZendesk, http: httpx.Client, **overrides: object) -> Rig:
    settings = SourceSettings.model_validate({
        "base_url": fake.url, "email": fake.email, "api_token": fake.api_token,
        "poll_interval": "1m", "silence_after": "30m", "max_backoff": "10m", **overrides})
    sink, cursors = MemorySink(), MemoryCursors()
    health = SourceHealth({"zendesk": settings.silence_after}, started_at=NOW)
    poller = ZendeskPoller(source="zendesk", settings=settings, client=http, sink=sink,
                           cursors=cursors, health=health,
                           mapping=SourceMapping.model_validate(
                               {"id": "zendesk", "customer_from": "organization"}))
    return Rig(poller, sink, cursors, health)


def add_zendesk_tickets(fake: FakeZendesk, n: int) -> None:
    for i in range(1, n + 1):
        fake.put_ticket(zendesk_api_ticket(i, created_at=NOW - timedelta(minutes=30 - i)))


def test_zendesk_export_pages_through_and_persists_cursor_each_page(
        zendesk: FakeZendesk, http: httpx.Client) -> None:
    add_zendesk_tickets(zendesk, 5)
    rig = zendesk_rig(zendesk, http)
    result = rig.poller.poll_once(NOW)
    assert (True, 5, MINUTE) == (result.ok, result.tickets_accepted, result.next_delay)
    assert ["1", "2", "3", "4", "5"] == [t.id for t in rig.sink.tickets]
    t = rig.sink.tickets[0]
    assert ("Acme Corp", "ops@acme.example", Priority.URGENT) == (
        t.customer, t.requester, t.priority)
    assert 3 == len(rig.cursors.history)  # one cursor write per page
    first = zendesk.requests[0].query
    assert str(int((NOW - timedelta(hours=1)).timestamp())) == first["start_time"]
    assert "cursor" in zendesk.requests[1].query


def test_zendesk_next_poll_resumes_from_stored_cursor(zendesk: FakeZendesk,
                                                      http: httpx.Client) -> None:
    add_zendesk_tickets(zendesk, 2)
    rig = zendesk_rig(zendesk, http)
    rig.poller.poll_once(NOW)
    zendesk.put_ticket(zendesk_api_ticket(1, created_at=NOW - timedelta(minutes=29),
                                          updated_at=NOW + MINUTE, status="solved"))
    result = rig.poller.poll_once(NOW + 2 * MINUTE)
    assert 1 == result.tickets_accepted
    assert Status.SOLVED == rig.sink.tickets[-1].status
    assert "start_time" not in zendesk.requests[-1].query


def test_zendesk_cursor_survives_failure_mid_stream(zendesk: FakeZendesk,
                                                    http: httpx.Client) -> None:
    add_zendesk_tickets(zendesk, 4)
    rig = zendesk_rig(zendesk, http)
    rig.poller.max_pages = 1
    assert 2 == rig.poller.poll_once(NOW).tickets_accepted
    zendesk.fail_next(500)
    failed = rig.poller.poll_once(NOW + MINUTE)
    assert (False, 0) == (failed.ok, failed.tickets_accepted)
    assert 1 == len(rig.cursors.history)
    rig.poller.max_pages = 10
    assert 2 == rig.poller.poll_once(NOW + 2 * MINUTE).tickets_accepted
    assert 4 == len(rig.sink.accepted) and 0 == rig.sink.duplicates


def test_zendesk_429_retry_after_is_honoured(zendesk: FakeZendesk,
                                             http: httpx.Client) -> None:
    rig = zendesk_rig(zendesk, http)
    zendesk.fail_next(429, retry_after=42)
    result = rig.poller.poll_once(NOW)
    assert (False, timedelta(seconds=42)) == (result.ok, result.next_delay)


def test_run_poller_waits_what_poll_once_asks(zendesk: FakeZendesk,
                                              http: httpx.Client) -> None:
    add_zendesk_tickets(zendesk, 1)
    rig = zendesk_rig(zendesk, http)
    zendesk.fail_next(429, retry_after=17)
    waits: list[float] = []
    clock = [NOW]

    def wait(seconds: float) -> bool:  # injected sleeper: advances the fake clock
        waits.append(seconds)
        clock[0] += timedelta(seconds=seconds)
        return len(waits) >= 2

    run_poller(rig.poller, clock=lambda: clock[0], wait=wait)
    assert [17.0, 60.0] == waits
    assert 1 == len(rig.sink.accepted)


def test_zendesk_backoff_doubles_until_ceiling(zendesk: FakeZendesk,
                                               http: httpx.Client) -> None:
    rig = zendesk_rig(zendesk, http)
    zendesk.down = True
    delays = [rig.poller.poll_once(NOW + i * MINUTE).next_delay for i in range(6)]
    assert [1, 2, 4, 8, 10, 10] == [int(d / MINUTE) for d in delays]
    zendesk.down = False
    assert MINUTE == rig.poller.poll_once(NOW + 7 * MINUTE).next_delay
    assert 0 == rig.health.status("zendesk").consecutive_failures


def test_helpdesk_down_reports_source_silent_after_silence_after(
        zendesk: FakeZendesk, http: httpx.Client) -> None:
    add_zendesk_tickets(zendesk, 1)
    rig = zendesk_rig(zendesk, http)
    assert rig.poller.poll_once(NOW).ok
    zendesk.stop()  # connection refused from now on
    t = NOW
    silent_at = None
    while t < NOW + timedelta(hours=1):
        t += rig.poller.poll_once(t).next_delay
        if rig.health.silent_sources(t):
            silent_at = t
            break
    assert silent_at is not None
    assert NOW + timedelta(minutes=30) <= silent_at < NOW + timedelta(minutes=40)
    assert [("zendesk", NOW)] == rig.health.silent_sources(silent_at)
    assert "ConnectError" in (rig.health.status("zendesk").last_error or "")


def test_never_successful_source_silent_from_start(zendesk: FakeZendesk,
                                                   http: httpx.Client) -> None:
    rig = zendesk_rig(zendesk, http, api_token="wrong")
    result = rig.poller.poll_once(NOW)
    assert not result.ok and "credentials refused" in (result.error or "")
    assert [] == rig.health.silent_sources(NOW + timedelta(minutes=29))
    assert [("zendesk", NOW)] == rig.health.silent_sources(NOW + timedelta(minutes=30))


def test_sink_failure_does_not_advance_cursor(zendesk: FakeZendesk,
                                              http: httpx.Client) -> None:
    add_zendesk_tickets(zendesk, 2)
    rig = zendesk_rig(zendesk, http)
    rig.sink.fail = RuntimeError("disk full")
    assert not rig.poller.poll_once(NOW).ok
    assert [] == rig.cursors.history
    rig.sink.fail = None
    assert 2 == rig.poller.poll_once(NOW + MINUTE).tickets_accepted


# --- Freshdesk ----------------------------------------------------------------------------

def freshdesk_rig(fake: FakeFreshdesk, http: httpx.Client) -> Rig:
    settings = SourceSettings.model_validate({
        "kind": "freshdesk", "base_url": fake.url, "api_key": fake.api_key,
        "poll_interval": "2m"})
    sink, cursors = MemorySink(), MemoryCursors()
    health = SourceHealth({}, started_at=NOW)
    poller = FreshdeskPoller(source="freshdesk", settings=settings, client=http, sink=sink,
                             cursors=cursors, health=health)
    return Rig(poller, sink, cursors, health)


def test_freshdesk_polls_updated_since_and_stores_last_updated_at(
        freshdesk: FakeFreshdesk, http: httpx.Client) -> None:
    for i in range(1, 6):
        at = NOW - timedelta(minutes=10 - i)
        freshdesk.put_ticket(freshdesk_api_ticket(i, created_at=at, updated_at=at))
    freshdesk.put_ticket(freshdesk_api_ticket(99, created_at=NOW - timedelta(days=2),
                                              updated_at=NOW - timedelta(days=2)))
    rig = freshdesk_rig(freshdesk, http)
    assert isinstance(rig.poller, FreshdeskPoller)
    rig.poller.per_page = 2
    result = rig.poller.poll_once(NOW)
    assert (5, timedelta(minutes=2)) == (result.tickets_accepted, result.next_delay)
    assert ["1", "2", "3", "4", "5"] == [t.id for t in rig.sink.tickets]
    assert "2026-11-25T02:55:00Z" == rig.cursors.get_cursor("poll:freshdesk")
    q = freshdesk.requests[0].query
    assert ("updated_at", "asc", "2026-11-25T02:00:00Z") == (
        q["order_by"], q["order_type"], q["updated_since"])
    assert ["1", "2", "3"] == [r.query["page"] for r in freshdesk.requests]
    t = rig.sink.tickets[0]
    assert (Priority.URGENT, Status.OPEN, "ops@acme.example") == (
        t.priority, t.status, t.requester)


def test_freshdesk_boundary_ticket_seen_again_is_duplicate(freshdesk: FakeFreshdesk,
                                                           http: httpx.Client) -> None:
    at = NOW - MINUTE
    freshdesk.put_ticket(freshdesk_api_ticket(1, created_at=at, updated_at=at))
    rig = freshdesk_rig(freshdesk, http)
    rig.poller.poll_once(NOW)
    second = rig.poller.poll_once(NOW + MINUTE)
    assert (True, 0, 1) == (second.ok, second.tickets_accepted, rig.sink.duplicates)
    freshdesk.put_ticket(freshdesk_api_ticket(1, created_at=at, updated_at=NOW, status=5))
    assert 1 == rig.poller.poll_once(NOW + 2 * MINUTE).tickets_accepted
    assert Status.CLOSED == rig.sink.tickets[-1].status


def test_freshdesk_429(freshdesk: FakeFreshdesk, http: httpx.Client) -> None:
    rig = freshdesk_rig(freshdesk, http)
    freshdesk.fail_next(429, retry_after="Wed, 25 Nov 2026 03:05:00 GMT")
    assert timedelta(minutes=5) == rig.poller.poll_once(NOW).next_delay


@pytest.mark.parametrize(("header", "expected"), [
    ("30", timedelta(seconds=30)), ("Wed, 25 Nov 2026 03:01:00 GMT", MINUTE),
    ("Wed, 25 Nov 2026 02:00:00 GMT", timedelta(0)), ("soon", timedelta(seconds=9)),
    (None, timedelta(seconds=9))])
def test_retry_after_parsing(header: str | None, expected: timedelta) -> None:
    assert expected == retry_after(header, NOW, timedelta(seconds=9))


def test_backoff_never_overflows() -> None:
    assert timedelta(minutes=15) == backoff(MINUTE, 10_000, timedelta(minutes=15))
