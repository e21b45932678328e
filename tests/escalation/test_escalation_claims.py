"""Claims over a real database (SQLite and PostgreSQL): each message is checked against
its incident in the transaction that claims it, so an acknowledgement committed first
always wins — the race is forced at the ``claiming`` checkpoint, not hoped for."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from support.databases import fresh_engine
from support.harness import Paging
from support.reliab_daemon import poll_until

from oncall.escalation.engine import transition
from oncall.escalation.state import Ack
from oncall.incidents import repo
from oncall.incidents.model import TicketSummary
from oncall.testing.paging import fail_sms_for

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


class Crash(BaseException):
    """Stands in for SIGKILL inside one process."""


def ticket(n: int = 1001) -> TicketSummary:
    return TicketSummary(source="zendesk", ticket_id=f"T-{n}", priority="urgent",
                         customer="acme", subject=f"Outage {n}")


def sent(p: Paging) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(m.person_id, m.channel.value, m.incident_ids) for m in p.transport.sent]


def ack_at_claim(p: Paging, incident_id: int, at: datetime, nth: int = 1) -> Callable[[str], None]:
    """A checkpoint that acknowledges the incident (committed, through the service's own
    connection) just before the runner claims its ``nth`` message."""
    seen = 0

    def checkpoint(name: str) -> None:
        nonlocal seen
        if name == "claiming":
            seen += 1
            if seen == nth:
                p.service.ack(incident_id, "ann", at, via="sms")

    return checkpoint


@pytest.fixture
def p(db: Engine) -> Paging:
    return Paging(db)


def test_an_ack_committed_before_the_claim_cancels_the_page(p: Paging) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    report = p.new_runner(checkpoint=ack_at_claim(p, inc.id, T0)).run_due(T0)
    assert [] == p.transport.sent
    assert (0, 1) == (report.sent, report.cancelled)
    assert ["cancelled"] == [e.status for e in p.service.ledger(inc.id)]
    assert [("notification", "cancelled")] == [
        (a.kind, a.outcome) for a in p.service.audit(inc.id) if a.outcome == "cancelled"]


def test_an_ack_arriving_with_a_failover_call_cancels_the_call(p: Paging) -> None:
    """The SMS fails, the failover call is built, and the acknowledgement commits just
    before the call is claimed: the call is never placed."""
    p.transport.fail = fail_sms_for("ann")
    inc = p.service.open_or_update(ticket(), "primary", T0)
    p.new_runner(checkpoint=ack_at_claim(p, inc.id, T0, nth=2)).run_due(T0)
    assert [("ann", "sms", (inc.id,))] == sent(p)
    assert [("failed", "sms"), ("cancelled", "voice")] == [
        (e.status, e.channel) for e in p.service.ledger(inc.id)]
    assert p.runner.next_wakeup() is None


def test_an_ack_at_claim_drops_only_its_incident_from_a_bundle(p: Paging) -> None:
    a = p.service.open_or_update(ticket(1), "primary", T0)
    p.runner.run_due(T0)
    b = p.service.open_or_update(ticket(2), "primary", T0 + MIN)
    c = p.service.open_or_update(ticket(3), "primary", T0 + MIN)
    p.runner.run_due(T0 + MIN)  # both held by the storm limit, to go out as one bundle
    p.new_runner(checkpoint=ack_at_claim(p, b.id, T0 + 2 * MIN)).run_due(T0 + 2 * MIN)
    assert [(a.id,), (c.id,)] == [m.incident_ids for m in p.transport.sent]
    assert p.transport.sent[1].text.startswith("URGENT #3 acme: Outage 3")
    assert ["cancelled"] == [e.status for e in p.service.ledger(b.id)]
    assert ["sent"] == [e.status for e in p.service.ledger(c.id)]


@pytest.mark.postgres
def test_a_claim_waits_for_an_ack_still_in_flight_on_postgres(tmp_path: Path) -> None:
    """PostgreSQL reads committed data without waiting: the claim must lock the incident
    row, so an acknowledgement whose transaction is open when the claim starts wins."""
    engine = fresh_engine("postgres", tmp_path)
    try:
        p = Paging(engine)
        inc = p.service.open_or_update(ticket(), "primary", T0)

        def crash(name: str) -> None:
            if name == "claiming":
                raise Crash

        with pytest.raises(Crash):  # the page is written, not yet claimed
            p.new_runner(checkpoint=crash).run_due(T0)
        with engine.connect() as acker:
            acker.begin()
            current = repo.load(acker, inc.id)
            assert current is not None
            acked, _ = transition(current.engine, Ack(actor="ann", via="sms"), T0)
            assert repo.save_state(acker, inc.id, current.version, acked, T0)
            runner = threading.Thread(target=p.new_runner().run_due, args=(T0 + MIN,))
            runner.start()
            try:
                def runner_waits_for_the_ack() -> bool:
                    # A new transaction each time: pg_stat_activity is a snapshot per transaction.
                    with engine.connect() as watcher:
                        return bool(watcher.execute(text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                            " AND datname = current_database()")).scalar())

                assert poll_until(runner_waits_for_the_ack, 10.0), "the claim did not wait"
            finally:
                acker.commit()
                runner.join(10)
        assert [] == p.transport.sent
        assert ["cancelled"] == [e.status for e in p.service.ledger(inc.id)]
    finally:
        engine.dispose()


def test_a_renewal_that_fails_while_a_call_lasts_leaves_the_call_to_finish(p: Paging,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The database cannot renew the claims of a call under way: the pass waits for the call
    anyway and records its outcome — no send is ever left in flight behind a pass."""
    inc = p.service.open_or_update(ticket(), "primary", T0)
    tried = threading.Event()
    release = threading.Event()
    runner = p.new_runner(claim_for=timedelta(seconds=0.3))

    def unreachable(*_args: object) -> None:
        tried.set()
        raise OperationalError("UPDATE notifications", {}, Exception("database unreachable"))

    monkeypatch.setattr(runner, "_renew", unreachable)
    p.transport.fail = lambda _m: None if release.wait(10) else RuntimeError("never released")
    passing = threading.Thread(target=runner.run_due, args=(T0,))
    passing.start()
    assert tried.wait(10), "no renewal was tried while the call lasted"
    release.set()
    passing.join(10)
    assert not passing.is_alive()
    assert ["sent"] == [e.status for e in p.service.ledger(inc.id)]
