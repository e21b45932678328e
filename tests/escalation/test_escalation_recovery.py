"""Crash recovery over a real database (SQLite and PostgreSQL): a message caught by a
crash after its claim is resent once (once the claim's deadline has passed); one never
claimed is simply sent; and a step whose page is known not to have reached the person
fails over at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from support.harness import Paging, expire_claims

from oncall.incidents.model import TicketSummary
from oncall.interfaces import Channel, Outbound

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


class Crash(BaseException):
    """Stands in for SIGKILL inside one process."""


def crash_at(point: str) -> Callable[[str], None]:
    def checkpoint(name: str) -> None:
        if name == point:
            raise Crash

    return checkpoint


def ticket(n: int = 1001) -> TicketSummary:
    return TicketSummary(source="zendesk", ticket_id=f"T-{n}", priority="urgent",
                         customer="acme", subject="Production down")


def handed(p: Paging, channel: Channel) -> list[tuple[str, tuple[int, ...]]]:
    return [(m.person_id, m.incident_ids) for m in p.transport.sent if m.channel is channel]


@pytest.fixture
def p(db: Engine) -> Paging:
    return Paging(db)


@pytest.mark.parametrize("point", ["before_send", "after_send"])
def test_a_send_caught_by_a_crash_is_resent_once_and_recorded(p: Paging, point: str) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    with pytest.raises(Crash):
        p.new_runner(checkpoint=crash_at(point)).run_due(T0)
    expire_claims(p.engine)
    p.new_runner().run_due(T0 + MIN)
    expected = 1 if point == "before_send" else 2
    assert expected == len(p.transport.sent)
    ledger = p.service.ledger(inc.id)
    assert ["unknown", "sent"] == [e.status for e in ledger]
    assert ledger[0].id == ledger[1].resend_of
    assert any(a.reason and "outcome unknown at crash" in a.reason
               for a in p.service.audit(inc.id))


@pytest.mark.parametrize("point", ["before_send", "after_send"])
def test_a_resend_caught_by_a_second_crash_fails_over_at_once(p: Paging, point: str) -> None:
    """The SMS and its one resend both have unknown outcomes: the SMS is not sent a third
    time, and the person is called at once rather than after the step's delay."""
    inc = p.service.open_or_update(ticket(), "primary", T0)
    for _ in range(2):
        with pytest.raises(Crash):
            p.new_runner(checkpoint=crash_at(point)).run_due(T0)
        expire_claims(p.engine)
    p.new_runner().run_due(T0 + MIN)
    assert (0 if point == "before_send" else 2) == len(handed(p, Channel.SMS))
    assert [("ann", (inc.id,))] == handed(p, Channel.VOICE)
    ledger = p.service.ledger(inc.id)
    assert [("unknown", "sms"), ("unknown", "sms"), ("sent", "voice")] == [
        (e.status, e.channel) for e in ledger]
    assert (0, 0, 2) == (ledger[2].round, ledger[2].step, ledger[2].attempt)
    assert T0 + 15 * MIN == p.runner.next_wakeup()  # the step's own delay is unchanged
    assert any(a.kind == "delivery_failed" for a in p.service.audit(inc.id))


@pytest.mark.parametrize("point", ["stepped", "claiming"])
def test_a_page_never_claimed_before_a_crash_is_sent_as_it_was(p: Paging, point: str) -> None:
    """Killed after the step was committed but before the message was claimed: it never
    reached the transport, so it goes out as it is — not an unknown outcome, no resend."""
    inc = p.service.open_or_update(ticket(), "primary", T0)
    with pytest.raises(Crash):
        p.new_runner(checkpoint=crash_at(point)).run_due(T0)
    p.new_runner().run_due(T0 + MIN)
    assert [("ann", (inc.id,))] == handed(p, Channel.SMS)
    assert [("sent", None)] == [(e.status, e.resend_of) for e in p.service.ledger(inc.id)]
    assert not any(a.outcome == "unknown" for a in p.service.audit(inc.id))


def test_a_resend_never_claimed_before_a_second_crash_is_sent(p: Paging) -> None:
    """The one resend was written but the process died before claiming it: it is sent on
    the next start (it never reached the transport), and no failover is needed."""
    inc = p.service.open_or_update(ticket(), "primary", T0)
    with pytest.raises(Crash):
        p.new_runner(checkpoint=crash_at("before_send")).run_due(T0)
    expire_claims(p.engine)
    with pytest.raises(Crash):
        p.new_runner(checkpoint=crash_at("claiming")).run_due(T0)
    p.new_runner().run_due(T0 + MIN)
    assert [("ann", (inc.id,))] == handed(p, Channel.SMS)
    assert [] == handed(p, Channel.VOICE)
    assert ["unknown", "sent"] == [e.status for e in p.service.ledger(inc.id)]


def test_a_send_orphaned_while_running_is_recovered_on_the_next_pass(p: Paging) -> None:
    """Recovery is not only a start-up step: a send that died inside a running runner (a
    provider library raising something unexpected) is resent once on its next pass."""
    calls: list[Outbound] = []

    def explode_once(message: Outbound) -> Exception | None:
        calls.append(message)
        return RuntimeError("provider library bug") if len(calls) == 1 else None

    p.transport.fail = explode_once
    inc = p.service.open_or_update(ticket(), "primary", T0)
    with pytest.raises(RuntimeError):
        p.runner.run_due(T0)
    p.runner.run_due(T0 + MIN)
    assert 2 == len(handed(p, Channel.SMS))
    ledger = p.service.ledger(inc.id)
    assert ["unknown", "sent"] == [e.status for e in ledger]
    assert ledger[0].id == ledger[1].resend_of


def test_no_resend_for_incident_acknowledged_during_the_crash(p: Paging) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    with pytest.raises(Crash):
        p.new_runner(checkpoint=crash_at("before_send")).run_due(T0)
    p.service.ack(inc.id, "ann", T0)
    expire_claims(p.engine)
    p.new_runner().run_due(T0 + MIN)
    assert [] == p.transport.sent
    assert ["unknown"] == [e.status for e in p.service.ledger(inc.id)]
