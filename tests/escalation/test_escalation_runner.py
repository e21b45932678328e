"""The runner over a real database (SQLite and PostgreSQL): paging, failover and
storms. Crash recovery: ``test_escalation_recovery.py``; claims: ``test_escalation_claims.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from support.harness import Paging

from oncall.errors import PermanentDeliveryError
from oncall.incidents.model import TicketSummary
from oncall.interfaces import Channel
from oncall.store.tables import notifications
from oncall.testing.paging import fail_sms_for

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def ticket(n: int = 1001, subject: str = "Production down") -> TicketSummary:
    return TicketSummary(source="zendesk", ticket_id=f"T-{n}", priority="urgent",
                         customer="acme", subject=subject)


def sent(p: Paging) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(m.person_id, m.channel.value, m.incident_ids) for m in p.transport.sent]


@pytest.fixture
def p(db: Engine) -> Paging:
    return Paging(db)


def test_new_incident_is_paged_at_once_with_a_reply_code(p: Paging) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    assert [("ann", "sms", (inc.id,))] == sent(p)
    text = p.transport.sent[0].text
    assert text == "URGENT #1 acme: Production down (ticket T-1001). Reply 1a ack, 1e escalate"
    assert T0 + 15 * MIN == p.runner.next_wakeup()
    assert ["sent"] == [e.status for e in p.service.ledger(inc.id)]


def test_second_event_for_the_same_ticket_updates_not_duplicates(p: Paging) -> None:
    a = p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    b = p.service.open_or_update(ticket(subject="Production down (EU too)"), "primary", T0 + MIN)
    p.runner.run_due(T0 + MIN)
    assert a.id == b.id
    assert "Production down (EU too)" == b.subject
    assert 1 == len(p.transport.sent)
    assert 1 == len(p.service.list(open_only=True))


def test_next_step_fires_after_the_delay(p: Paging) -> None:
    p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    p.runner.run_due(T0 + 14 * MIN)
    assert 1 == len(p.transport.sent)
    p.runner.run_due(T0 + 15 * MIN)
    assert {("cat", "sms"), ("cat", "voice"), ("bob", "sms"), ("bob", "voice")} == {
        (who, ch) for who, ch, _ in sent(p)[1:]}


def test_steps_overdue_after_downtime_fire_once(p: Paging) -> None:
    p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    p.runner.run_due(T0 + timedelta(hours=3))
    assert 5 == len(p.transport.sent)  # step 2 once (4 messages), not rounds of catch-up
    assert T0 + timedelta(hours=3, minutes=10) == p.runner.next_wakeup()


def test_ack_stops_everything_scheduled(p: Paging) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    acked = p.service.ack(inc.id, "ann", T0 + MIN, via="sms")
    assert ("acknowledged", "ann") == (acked.state.value, acked.acknowledged_by)
    p.runner.run_due(T0 + timedelta(hours=2))
    assert 1 == len(p.transport.sent)
    assert p.runner.next_wakeup() is None


def test_escalate_pages_next_step_at_once(p: Paging) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    p.service.escalate(inc.id, "ann", T0 + 2 * MIN)
    p.runner.run_due(T0 + 2 * MIN)
    assert {"cat", "bob"} == {who for who, _, _ in sent(p)[1:]}
    assert T0 + 12 * MIN == p.runner.next_wakeup()


def test_failed_sms_fails_over_to_voice_immediately(p: Paging) -> None:
    p.transport.fail = fail_sms_for("ann")
    inc = p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    assert [("ann", "sms", (inc.id,)), ("ann", "voice", (inc.id,))] == sent(p)
    assert ["failed", "sent"] == [e.status for e in p.service.ledger(inc.id)]
    assert T0 + 15 * MIN == p.runner.next_wakeup()  # the step delay is unchanged


def test_undelivered_status_callback_fails_over(p: Paging) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    sid = p.service.ledger(inc.id)[0].provider_id
    assert sid
    assert 1 == p.service.delivery_status(sid, "undelivered", "30003", T0 + MIN)
    assert 0 == p.service.delivery_status(sid, "undelivered", "30003", T0 + MIN)  # repeat
    p.runner.run_due(T0 + MIN)
    assert ("ann", "voice", (inc.id,)) == sent(p)[-1]


def test_stop_blocked_sms_calls_instead_and_alerts_admins(p: Paging) -> None:
    p.transport.fail = lambda m: (PermanentDeliveryError("blocked", code=21610)
                                  if m.channel is Channel.SMS and m.person_id == "bob" else None)
    p.directory.on_call_map = {"primary": ("bob",)}
    p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    assert ("bob", "voice") in [(w, c) for w, c, _ in sent(p)]
    assert ("adm", "sms") in [(w, c) for w, c, _ in sent(p)]


def test_exhausted_policy_alerts_admins(p: Paging) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    now = T0
    while (wake := p.runner.next_wakeup()) is not None:
        now = max(now, wake)
        p.runner.run_due(now)
    admin = [m for m in p.transport.sent if m.person_id == "adm"]
    assert 1 == len(admin)
    assert "nobody acknowledged" in admin[0].text
    assert p.service.get(inc.id).exhausted


def test_storm_bundles_sms_per_person_and_ack_all_works(p: Paging) -> None:
    ids = []
    for n in range(12):
        at = T0 + timedelta(seconds=5 * n)
        ids.append(p.service.open_or_update(ticket(2000 + n, f"Outage {n}"), "primary", at).id)
        p.runner.run_due(at)
    assert 1 == len(p.transport.sent)  # one SMS; eleven held
    assert T0 + 2 * MIN == p.runner.next_wakeup()
    p.runner.run_due(T0 + 2 * MIN)
    assert 2 == len(p.transport.sent)
    bundle = p.transport.sent[1]
    assert tuple(ids[1:]) == bundle.incident_ids
    assert bundle.text.startswith("11 new urgent incidents, oldest #2: acme Outage 1")
    assert "ack all" in bundle.text.lower() and len(bundle.text) <= 160
    done = p.service.ack_all("ann", T0 + 3 * MIN)
    assert sorted(ids) == sorted(i.id for i in done)
    assert [] == [i for i in p.service.list(open_only=True) if i.state.value == "triggered"]


def test_held_pages_for_acknowledged_incidents_are_dropped(p: Paging) -> None:
    a = p.service.open_or_update(ticket(1), "primary", T0)
    p.runner.run_due(T0)
    b = p.service.open_or_update(ticket(2), "primary", T0 + MIN)
    p.runner.run_due(T0 + MIN)
    p.service.ack(b.id, "ann", T0 + MIN)
    p.runner.run_due(T0 + 3 * MIN)
    assert [(a.id,)] == [m.incident_ids for m in p.transport.sent]
    assert ["suppressed"] == [e.status for e in p.service.ledger(b.id)]


def test_in_flight_incident_keeps_the_policy_it_started_with(p: Paging) -> None:
    p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    p.directory.policies["primary"] = p.directory.policies["primary"].model_copy(
        update={"steps": p.directory.policies["primary"].steps[:1]})
    p.runner.run_due(T0 + 15 * MIN)
    assert "cat" in {who for who, _, _ in sent(p)}


def test_short_codes_are_the_smallest_free_per_person(p: Paging) -> None:
    a = p.service.open_or_update(ticket(1), "primary", T0)
    p.runner.run_due(T0)
    b = p.service.open_or_update(ticket(2), "primary", T0 + 3 * MIN)
    p.runner.run_due(T0 + 3 * MIN)
    with p.engine.connect() as conn:
        codes = dict(conn.execute(select(notifications.c.incident_id,
                                         notifications.c.short_code)).all())
    assert {a.id: 1, b.id: 2} == codes
    assert b.id == p.service.incident_for_code("ann", 2).id  # type: ignore[union-attr]
    assert b.id == p.service.latest_for_person("ann").id  # type: ignore[union-attr]
    p.service.resolve(a.id, "ann", T0 + 4 * MIN)
    assert p.service.incident_for_code("ann", 1) is None
    c = p.service.open_or_update(ticket(3), "primary", T0 + 6 * MIN)
    p.runner.run_due(T0 + 6 * MIN)
    assert "#1 " in p.transport.sent[-1].text and c.id == p.transport.sent[-1].incident_ids[0]


def test_a_slow_provider_call_does_not_hold_back_other_pages(p: Paging) -> None:
    """Two people paged in one step: while the call to ann hangs (a provider timing out),
    bob's page is still handed over."""
    import threading

    p.directory.on_call_map = {"primary": ("ann", "bob")}
    ann_gate, bob_sent = threading.Event(), threading.Event()

    def slow_for_ann(message: object) -> None:
        if getattr(message, "person_id", None) == "ann":
            ann_gate.wait(10)
        else:
            bob_sent.set()
        return None

    p.transport.fail = slow_for_ann  # type: ignore[assignment]
    p.service.open_or_update(ticket(), "primary", T0)
    worker = threading.Thread(target=p.runner.run_due, args=(T0,))
    worker.start()
    try:
        assert bob_sent.wait(10), "bob's page waited for ann's hanging call"
    finally:
        ann_gate.set()
        worker.join(10)
    assert {"ann", "bob"} == {m.person_id for m in p.transport.sent}
