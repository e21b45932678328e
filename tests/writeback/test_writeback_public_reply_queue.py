"""The queue of public replies in the database: a failed post is tried again later and given up
after a few, logged and counted; a reply whose poster died mid-post is never posted again; a
feed whose ``writeback`` lease another instance took posts nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from sqlalchemy import Engine, select
from support.databases import scratch_postgres_database

from oncall.config.loader import load
from oncall.errors import LeaseLost
from oncall.rules import Decision, TicketEvent, decide
from oncall.sources.writeback import Note
from oncall.store.db import make_engine, upgrade
from oncall.store.leases import Fence, LeaseStore
from oncall.store.tables import public_replies
from oncall.tickets import parse_ticket
from oncall.writeback_feed import REPLY_ATTEMPTS, WriteBackFeed

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "eastern-emergency"
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)  # 03:00 in New York: the desk is closed


class Helpdesk:
    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.notes: list[Note] = []

    def post(self, note: Note) -> bool:
        self.notes.append(note)
        return self.ok


def uncovered() -> Decision:
    snapshot = load(EXAMPLE, now=T0)
    ticket = parse_ticket({"id": "9", "source": "zendesk", "priority": "urgent", "customer": "resold",
                           "created_at": T0.isoformat()})
    return decide(ticket, TicketEvent.CREATED, snapshot, T0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'o.db'}")
        upgrade(made)
        yield made
        made.dispose()
        return
    with scratch_postgres_database("oncall_reply_queue") as url:
        made = make_engine(url)
        upgrade(made)
        yield made
        made.dispose()


def feed(engine: Engine, helpdesk: Helpdesk, failures: list[tuple[str, str]] | None = None,
         fence: Fence | None = None) -> WriteBackFeed:
    told = failures if failures is not None else []
    kwargs = {"fence": fence} if fence is not None else {}
    return WriteBackFeed(engine, {"zendesk": helpdesk}, public=lambda _s: True,
                         on_failure=lambda source, outcome: told.append((source, outcome)), **kwargs)


def status(engine: Engine) -> tuple[str, int]:
    with engine.connect() as conn:
        row = conn.execute(select(public_replies.c.status, public_replies.c.attempts)).one()
    return row.status, int(row.attempts)


def test_a_failed_reply_is_tried_again_later_then_given_up_logged_and_counted(engine: Engine) -> None:
    helpdesk, failures = Helpdesk(ok=False), []
    wb = feed(engine, helpdesk, failures)
    with engine.begin() as conn:
        assert wb.queue_public_reply("zendesk", "9", uncovered(), "Direct support", T0, conn)
    wb.run_once(T0)
    assert (1, [("zendesk", "retry")]) == (len(helpdesk.notes), failures)
    wb.run_once(T0 + timedelta(seconds=30))  # not due yet
    assert 1 == len(helpdesk.notes)
    with structlog.testing.capture_logs() as logs:
        for minutes in range(1, 120):
            wb.run_once(T0 + timedelta(minutes=minutes))
    assert REPLY_ATTEMPTS == len(helpdesk.notes)
    assert ("failed", REPLY_ATTEMPTS) == status(engine)
    assert [("zendesk", "retry")] * (REPLY_ATTEMPTS - 1) + [("zendesk", "given_up")] == failures
    assert ["writeback.public_reply_failed"] == [e["event"] for e in logs if e["log_level"] == "error"]


def test_a_failed_reply_that_then_goes_through_is_posted_once(engine: Engine) -> None:
    helpdesk = Helpdesk(ok=False)
    wb = feed(engine, helpdesk)
    with engine.begin() as conn:
        wb.queue_public_reply("zendesk", "9", uncovered(), "Direct support", T0, conn)
    wb.run_once(T0)
    helpdesk.ok = True
    for minutes in range(1, 30):
        wb.run_once(T0 + timedelta(minutes=minutes))
    assert 2 == len(helpdesk.notes) and helpdesk.notes[0] == helpdesk.notes[1]
    assert ("posted", 2) == status(engine)


def test_a_reply_whose_poster_died_mid_post_is_never_posted_again(engine: Engine) -> None:
    helpdesk, failures = Helpdesk(), []
    first = feed(engine, helpdesk)
    with engine.begin() as conn:
        first.queue_public_reply("zendesk", "9", uncovered(), "Direct support", T0, conn)
    [reply] = first.replies.due(T0, 10)
    assert first.replies.claim(reply, T0)  # claimed for sending; its process died before the answer
    after_restart = feed(engine, helpdesk, failures)
    with structlog.testing.capture_logs() as logs:
        after_restart.run_once(T0 + timedelta(minutes=1))
        assert [] == failures  # may still be under way
        after_restart.run_once(T0 + timedelta(minutes=10))
        after_restart.run_once(T0 + timedelta(minutes=20))
    assert ([], [("zendesk", "unknown")]) == (helpdesk.notes, failures)
    assert ("unknown", 1) == status(engine)
    assert ["writeback.public_reply_unknown"] == [e["event"] for e in logs if e["log_level"] == "error"]


def test_a_feed_whose_lease_another_instance_took_posts_no_reply(engine: Engine) -> None:
    life = timedelta(seconds=10)
    mine = LeaseStore(engine, "instance-a", clock=lambda: T0)
    theirs = LeaseStore(engine, "instance-b", clock=lambda: T0 + life)
    grant = mine.acquire("writeback", timedelta(microseconds=1) if mine.shared else life)
    assert grant is not None
    fence = Fence(mine, "writeback", idle_limit=life)
    fence.token = grant.token
    helpdesk = Helpdesk()
    stale = feed(engine, helpdesk, fence=fence)
    with engine.begin() as conn:
        stale.queue_public_reply("zendesk", "9", uncovered(), "Direct support", T0, conn)
    assert theirs.acquire("writeback", life) is not None  # taken over (ours had lapsed)
    with pytest.raises(LeaseLost):
        stale.run_once(T0 + life)
    assert ([], ("queued", 0)) == (helpdesk.notes, status(engine))
    holder = Fence(theirs, "writeback", idle_limit=life)
    holder.token = grant.token + 1
    feed(engine, helpdesk, fence=holder).run_once(T0 + life)
    assert ["9"] == [n.ticket_id for n in helpdesk.notes]
