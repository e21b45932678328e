"""Stored ticket events through the daemon's worker: lifecycle → decision → incident → pages."""

from __future__ import annotations

from datetime import timedelta

from daemon_rig import MONDAY_MORNING, SATURDAY_NIGHT, Rig

from oncall.interfaces import Channel


def outcomes(rig: Rig) -> list[str]:
    with rig.daemon.engine.connect() as conn:
        from sqlalchemy import select

        from oncall.store.tables import ticket_events

        return [str(r.outcome).split(":")[0] for r in conn.execute(
            select(ticket_events.c.outcome).order_by(ticket_events.c.id))]


def test_created_after_hours_pages_the_person_on_call(rig: Rig) -> None:
    assert rig.file("T-1")
    rig.work()
    [inc] = rig.daemon.service.list()
    assert ("generic", "T-1", "triggered") == (inc.source, inc.ticket_id, inc.state.value)
    [sms] = rig.transport.sent
    assert (rig.on_call(), Channel.SMS, (inc.id,)) == (sms.person_id, sms.channel, sms.incident_ids)
    assert ["paged"] == outcomes(rig)


def test_same_event_again_creates_no_second_incident(rig: Rig) -> None:
    """A helpdesk retry: same event key is a duplicate at the door; a re-stored copy
    (new key, same content) is a lifecycle duplicate."""
    assert rig.file("T-1")
    rig.work()
    assert not rig.file("T-1")  # same event key
    rig.daemon.inbox.receive("generic", "other-key", _ticket_json(rig), rig.clock.now())
    rig.work()
    assert 1 == len(rig.daemon.service.list())
    assert 1 == len(rig.transport.sent)
    assert ["paged", "ignored"] == outcomes(rig)


def _ticket_json(rig: Rig) -> dict[str, object]:
    from sqlalchemy import select

    from oncall.store.tables import ticket_events

    with rig.daemon.engine.connect() as conn:
        return dict(conn.execute(select(ticket_events.c.ticket_json).limit(1)).scalar_one())


def _cancelled_and_silent(rig: Rig, state: str = "cancelled") -> None:
    [inc] = rig.daemon.service.list()
    assert state == inc.state.value
    before = len(rig.transport.sent)
    for _ in range(4):  # well past every step delay: nothing more goes out
        rig.clock.advance(timedelta(minutes=20))
        rig.work()
    assert before == len(rig.transport.sent)


def test_priority_lowered_before_ack_cancels_and_stops_paging(rig: Rig) -> None:
    rig.file("T-1", priority="urgent")
    rig.work()
    rig.clock.advance(timedelta(minutes=1))
    rig.file("T-1", priority="normal", updated=rig.clock.now())
    rig.work()
    assert ["paged", "cancelled"] == outcomes(rig)
    _cancelled_and_silent(rig)


def test_severity_lowered_ends_paging_even_at_urgent_priority(rig: Rig) -> None:
    """Support downgrading a misused SEV-1: severity dominates priority."""
    rig.file("T-1", priority="urgent", severity="sev1")
    rig.work()
    rig.clock.advance(timedelta(minutes=1))
    rig.file("T-1", priority="low", severity="sev4", updated=rig.clock.now())
    rig.work()
    _cancelled_and_silent(rig)


def test_solved_before_ack_resolves_and_stops_paging(rig: Rig) -> None:
    """The helpdesk says the work is done: resolved by the ticket, not cancelled."""
    rig.file("T-1")
    rig.work()
    rig.clock.advance(timedelta(minutes=2))
    rig.file("T-1", status="solved", updated=rig.clock.now())
    rig.work()
    assert ["paged", "resolved"] == outcomes(rig)
    _cancelled_and_silent(rig, "resolved")
    [inc] = rig.daemon.service.list()
    resolved = [(e.actor, e.channel, e.reason) for e in rig.daemon.service.audit(inc.id) if e.kind == "resolved"]
    assert [("ticket", "generic", "ticket solved in the helpdesk")] == resolved


def test_closed_before_ack_resolves(rig: Rig) -> None:
    rig.file("T-1")
    rig.work()
    rig.clock.advance(timedelta(minutes=2))
    rig.file("T-1", status="closed", updated=rig.clock.now())
    rig.work()
    _cancelled_and_silent(rig, "resolved")


def test_closed_after_ack_resolves_the_incident(rig: Rig) -> None:
    """The helpdesk closed the ticket its owner acknowledged: the incident is resolved by the ticket."""
    rig.file("T-1")
    rig.work()
    [inc] = rig.daemon.service.list()
    rig.daemon.service.ack(inc.id, rig.on_call(), rig.clock.now(), "sms")
    rig.clock.advance(timedelta(minutes=2))
    rig.file("T-1", status="closed", updated=rig.clock.now())
    rig.work()
    assert "resolved" == rig.daemon.service.get(inc.id).state.value
    assert ["paged", "resolved"] == outcomes(rig)


def test_lowered_after_ack_keeps_the_incident_with_its_owner(rig: Rig) -> None:
    rig.file("T-1")
    rig.work()
    [inc] = rig.daemon.service.list()
    rig.daemon.service.ack(inc.id, rig.on_call(), rig.clock.now(), "sms")
    rig.clock.advance(timedelta(minutes=2))
    rig.file("T-1", priority="low", updated=rig.clock.now())
    rig.work()
    assert "acknowledged" == rig.daemon.service.get(inc.id).state.value


def test_reopened_ticket_is_evaluated_again_as_a_new_event(rig: Rig) -> None:
    rig.file("T-1")
    rig.work()
    rig.clock.advance(timedelta(minutes=2))
    rig.file("T-1", status="closed", updated=rig.clock.now())
    rig.work()
    rig.clock.advance(timedelta(hours=1))
    rig.file("T-1", status="waiting-for-support", updated=rig.clock.now())
    rig.work()
    first, second = rig.daemon.service.list()
    assert ("resolved", "triggered") == (first.state.value, second.state.value)
    assert ["paged", "resolved", "paged"] == outcomes(rig)
    assert (second.id,) == rig.transport.sent[-1].incident_ids


def test_reopened_during_business_hours_does_not_page(rig: Rig) -> None:
    rig.file("T-1")
    rig.work()
    rig.clock.advance(timedelta(minutes=2))
    rig.file("T-1", status="closed", updated=rig.clock.now())
    rig.work()
    rig.clock.set(MONDAY_MORNING)
    rig.file("T-1", status="waiting-for-support", updated=rig.clock.now())
    rig.work()
    assert ["paged", "resolved", "no_page"] == outcomes(rig)
    assert 1 == len(rig.daemon.service.list())


def test_out_of_order_older_event_is_ignored(rig: Rig) -> None:
    """A 'closed' event older than the last processed one must not cancel paging."""
    rig.file("T-1", updated=SATURDAY_NIGHT)
    rig.work()
    rig.clock.advance(timedelta(minutes=1))
    rig.file("T-1", status="closed", updated=SATURDAY_NIGHT - timedelta(minutes=5))
    rig.work()
    [inc] = rig.daemon.service.list()
    assert "triggered" == inc.state.value
    assert ["paged", "ignored"] == outcomes(rig)


def test_ticket_arriving_late_once_the_desk_opened_does_not_page(rig: Rig) -> None:
    """Created at 03:00 Saturday, reaching oncall Monday 09:00: judged at processing time."""
    rig.clock.set(MONDAY_MORNING)
    rig.file("T-1", created=SATURDAY_NIGHT)
    rig.work()
    assert [] == rig.daemon.service.list()
    assert [] == rig.transport.sent
    assert ["no_page"] == outcomes(rig)


def test_stored_before_processing_is_judged_when_processed(rig: Rig) -> None:
    """Stored at 07:59 Monday, processed at 08:01 (desk open): no page."""
    from datetime import datetime

    from daemon_rig import NY

    rig.clock.set(datetime(2026, 11, 30, 7, 59, tzinfo=NY))
    rig.file("T-1")
    rig.clock.set(datetime(2026, 11, 30, 8, 1, tzinfo=NY))
    rig.work()
    assert ["no_page"] == outcomes(rig)


def test_ticket_outcomes_are_counted_by_source_and_outcome(rig: Rig) -> None:
    rig.file("T-1")
    rig.file("T-2", priority="low")
    rig.work()
    text = rig.daemon.metrics.render().decode()
    assert 'oncall_tickets_received_total{outcome="paged",source="generic"} 1.0' in text
    assert 'oncall_tickets_received_total{outcome="no_page",source="generic"} 1.0' in text


def test_escalates_to_voice_when_nobody_acknowledges(rig: Rig) -> None:
    rig.file("T-1")
    rig.work()
    rig.clock.advance(timedelta(minutes=5))
    rig.work()
    assert [Channel.SMS, Channel.VOICE] == [m.channel for m in rig.to(rig.on_call())]


def test_events_of_one_ticket_in_one_batch_are_compared_in_order(rig: Rig) -> None:
    """Created then solved, stored before the worker runs: the second event sees the first
    (same batch) and resolves the incident before anything is sent."""
    rig.file("T-9", updated=SATURDAY_NIGHT)
    rig.file("T-9", status="solved", updated=SATURDAY_NIGHT + timedelta(minutes=1))
    rig.work()
    [inc] = rig.daemon.service.list()
    assert "resolved" == inc.state.value
    assert [] == rig.transport.sent


def test_a_burst_larger_than_a_batch_pages_every_ticket(rig: Rig) -> None:
    from oncall.daemon.duties.engine import INTAKE_BATCH

    for n in range(INTAKE_BATCH * 2 + 3):
        rig.file(f"B-{n}")
    rig.work()
    assert INTAKE_BATCH * 2 + 3 == len(rig.daemon.service.list(open_only=True))
    assert [] == rig.daemon.inbox.unprocessed(10)
