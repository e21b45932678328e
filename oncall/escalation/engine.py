"""The escalation engine: a pure function from (state, policy, directory, now, events)
to (new state, actions). It reads no clock, opens no socket and writes nothing; the
runner (:mod:`oncall.escalation.runner`) performs the actions.

Timing rule: when a step falls due the *next* step fires at ``now`` and the one after
waits its delay from ``now``. A daemon that was down for an hour therefore fires the
overdue step once on restart (coalesced) and skips none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from oncall.escalation.alerting import AlertSeverity, with_stop_fallback
from oncall.escalation.directory import Contact, Directory
from oncall.escalation.policy import ContactMode, EscalationPolicy, Step, Target
from oncall.escalation.state import (
    Ack,
    Action,
    Cancel,
    DeliveryFailed,
    Escalate,
    Event,
    Exhausted,
    IncidentState,
    IncidentStatus,
    Notify,
    PersonCursor,
    Record,
    Resolve,
    WakeAt,
)
from oncall.interfaces import Channel
from oncall.notify.channels import after_stop

# A policy that repeats forever but reaches nobody in a whole round retries after this.
EMPTY_ROUND_RETRY = timedelta(minutes=5)
BOTH = (Channel.SMS, Channel.VOICE)  # contact: both


def resolve_targets(targets: Sequence[Target], directory: Directory, t: datetime) -> tuple[
        str, ...]:
    """The person ids a step's targets mean at ``t``, in order, without repeats."""
    people: list[str] = []
    for target in targets:
        if target.kind == "schedule":
            found = directory.on_call(target.ref, t)
        elif target.kind == "schedule_members":
            found = directory.members(target.ref)
        else:
            found = (target.ref,)
        people.extend(p for p in found if p not in people)
    return tuple(people)


def plan_channels(contact: Contact, mode: ContactMode | Channel) -> tuple[tuple[Channel, ...], ...]:
    """The waves of channels to try for one person, in order.

    ``own`` walks the person's own methods one by one. A channel (``sms``, ``voice``,
    ``email``…) or ``both`` (sms and voice) starts with those channels and falls back to
    the person's other methods. A person who blocked our texts (STOP) is reached by the
    channel that takes over (a call): a text they cannot receive must not end their
    escalation.
    """
    if mode is ContactMode.OWN:
        waves: list[tuple[Channel, ...]] = [(m,) for m in contact.methods if contact.can_use(m)]
    else:
        wanted = BOTH if mode is ContactMode.BOTH else (Channel(mode),)
        first = tuple(c for c in wanted if contact.can_use(c))
        waves = [first] if first else []
        waves += [(m,) for m in contact.methods if m not in first and contact.can_use(m)]
    used = {c for w in waves for c in w}
    if contact.sms_blocked:
        waves += [(c,) for c in after_stop() if c not in used and contact.can_use(c)]
    return tuple(waves)


def step(
    state: IncidentState,
    policy: EscalationPolicy,
    directory: Directory,
    now: datetime,
    events: Sequence[Event] = (),
) -> tuple[IncidentState, list[Action]]:
    """Apply queued and given events, fire the due step if any, say when to wake next."""
    if now.tzinfo is None:
        raise ValueError("step() needs a timezone-aware 'now'")
    # Delays are real elapsed time: arithmetic on a local zone's wall clock would make
    # a 30-minute delay across a DST change last 90 or -30 minutes.
    now = now.astimezone(UTC)
    actions: list[Action] = []
    pending = (*state.events, *events)
    state = replace(state, events=())
    for event in pending:
        state = _apply(state, event, policy, directory, now, actions)
    if (state.status is IncidentStatus.TRIGGERED and state.next_action_at is not None
            and state.next_action_at <= now):
        state = _advance(state, policy, directory, now, actions)
    if state.status is not IncidentStatus.TRIGGERED:
        state = replace(state, next_action_at=None, cursors=())
    if state.next_action_at is not None:
        actions.append(WakeAt(at=state.next_action_at))
    return state, actions


def _apply(state: IncidentState, event: Event, policy: EscalationPolicy, directory: Directory,
           now: datetime, actions: list[Action]) -> IncidentState:
    if isinstance(event, DeliveryFailed):
        return _delivery_failed(state, event, policy, directory, actions)
    state, more = transition(state, event, now)
    actions.extend(more)
    return state


def transition(state: IncidentState, event: Ack | Resolve | Cancel | Escalate, now: datetime
               ) -> tuple[IncidentState, list[Action]]:
    """Apply a human's or the ticket's decision. Needs no directory, so the incident
    service applies these at once; an escalation makes the next step due ``now`` and
    the runner fires it on its next pass."""
    status = state.status
    if isinstance(event, Cancel):
        if not status.is_open:
            return state, []
        return _closed(state, IncidentStatus.CANCELLED), [Record(kind="cancelled",
                                                                  detail=event.reason)]
    verb = type(event).__name__.lower()
    if isinstance(event, Ack) and status is IncidentStatus.TRIGGERED:
        new = replace(state, status=IncidentStatus.ACKNOWLEDGED, next_action_at=None,
                      cursors=())
        return new, [Record(kind="acknowledged", actor=event.actor, channel=event.via)]
    if isinstance(event, Resolve) and status.is_open:
        return _closed(state, IncidentStatus.RESOLVED), [
            Record(kind="resolved", actor=event.actor, channel=event.via)]
    if isinstance(event, Escalate) and status.is_open and not state.exhausted:
        # Escalating an acknowledged incident asks for help: it is triggered again.
        new = replace(state, status=IncidentStatus.TRIGGERED, next_action_at=now)
        return new, [Record(kind="escalated", actor=event.actor, channel=event.via)]
    why = "policy exhausted" if state.exhausted and status.is_open else f"incident is {status}"
    return state, [Record(kind="ignored", actor=event.actor, channel=event.via,
                          detail=f"{verb}: {why}")]


def _closed(state: IncidentState, status: IncidentStatus) -> IncidentState:
    return replace(state, status=status, next_action_at=None, cursors=(), events=())


def _delivery_failed(state: IncidentState, event: DeliveryFailed, policy: EscalationPolicy,
                     directory: Directory, actions: list[Action]) -> IncidentState:
    actions.append(Record(kind="delivery_failed", actor=event.person_id,
                          channel=event.channel.value, outcome="failed", detail=event.reason))
    if event.sms_blocked and not state.admins_alerted:
        actions.extend(_admin_notifies(state, directory, "alert",
                                       f"{event.person_id} blocked SMS from oncall (STOP)",
                                       AlertSeverity.WARNING))
        state = replace(state, admins_alerted=True)
    current = (event.round, event.step) == (state.round, state.step)
    if state.status is not IncidentStatus.TRIGGERED or not current:
        return state
    cursors = list(state.cursors)
    for i, cursor in enumerate(cursors):
        if cursor.person_id != event.person_id or cursor.wave >= len(cursor.waves):
            continue
        wave = cursor.waves[cursor.wave]
        if event.channel not in wave or event.channel in cursor.failed:
            return state
        if event.sms_blocked:
            contact = directory.contact(cursor.person_id)
            instead = [c for c in after_stop() if all(c not in w for w in cursor.waves)
                       and contact is not None and contact.can_use(c)]
            cursor = replace(cursor, waves=(*cursor.waves, *((c,) for c in instead)))
        failed = (*cursor.failed, event.channel)
        if set(failed) < set(wave):
            cursors[i] = replace(cursor, failed=failed)
        elif cursor.wave + 1 < len(cursor.waves):
            nxt = cursor.wave + 1
            cursors[i] = replace(cursor, wave=nxt, failed=())
            channels = cursor.waves[nxt]
            actions.append(Record(kind="failover", actor=cursor.person_id,
                                  detail=f"trying {', '.join(channels)} next"))
            actions.extend(Notify(incident_id=state.incident_id, person_id=cursor.person_id,
                                  channel=ch, round=state.round, step=state.step, attempt=nxt + 1)
                           for ch in channels)
        else:
            cursors[i] = replace(cursor, wave=len(cursor.waves), failed=())
            actions.append(Record(kind="unreachable", actor=cursor.person_id,
                                  detail="every contact method failed for this step"))
        return replace(state, cursors=tuple(cursors))
    return state


def _admin_notifies(state: IncidentState, directory: Directory, purpose: str,
                    note: str, severity: AlertSeverity) -> list[Action]:
    """Each admin once, by the first usable channel they have for ``severity``: a warning
    (a phone that texted STOP) never rings unless they asked; critical ones may."""
    out: list[Action] = []
    for admin in directory.admins():
        contact = directory.contact(admin)
        channels = with_stop_fallback(directory.alert_channels(admin, severity), severity,
                                      contact is not None and contact.sms_blocked)
        usable = [c for c in channels if contact is not None and contact.can_use(c)]
        if not usable:
            out.append(Record(kind="admin_unreachable",
                              detail=f"admin {admin} has no usable channel for {severity} alerts"))
            continue
        out.append(Notify(incident_id=state.incident_id, person_id=admin, channel=usable[0],
                          round=state.round, step=state.step, attempt=1, purpose=purpose,
                          note=note))
    return out


def _fire(state: IncidentState, step_def: Step, directory: Directory, now: datetime,
          actions: list[Action], where: str) -> tuple[PersonCursor, ...]:
    people = resolve_targets(step_def.targets, directory, now)
    cursors: list[PersonCursor] = []
    for person in people:
        contact = directory.contact(person)
        waves = plan_channels(contact, step_def.contact) if contact else ()
        if not waves:
            actions.append(Record(kind="person_unreachable", actor=person,
                                  detail=f"{where}: no usable contact method"))
            continue
        cursors.append(PersonCursor(person_id=person, waves=waves))
    if not cursors:
        who = "nobody" if not people else "nobody reachable"
        actions.append(Record(kind="step_skipped", detail=f"{where}: targets resolve to {who}"))
    return tuple(cursors)


def _advance(state: IncidentState, policy: EscalationPolicy, directory: Directory,
             now: datetime, actions: list[Action]) -> IncidentState:
    steps = policy.steps
    rnd, idx, skipped = state.round, state.step, 0
    while True:
        idx += 1
        if idx >= len(steps):
            idx, rnd = 0, rnd + 1
        if not steps or (policy.rounds is not None and rnd >= policy.rounds):
            actions.append(Record(kind="exhausted", detail=(
                f"policy {policy.id!r} exhausted after {policy.rounds or 0} round(s)")))
            actions.append(Exhausted(incident_id=state.incident_id, rounds=policy.rounds or 0))
            state = replace(state, exhausted=True, next_action_at=None, cursors=())
            if policy.notify_admins_when_exhausted:
                actions.extend(_admin_notifies(state, directory, "exhausted",
                                               "nobody acknowledged", AlertSeverity.CRITICAL))
            return state
        where = f"round {rnd + 1} step {idx + 1}"
        cursors = _fire(state, steps[idx], directory, now, actions, where)
        if cursors:
            actions.append(Record(kind="step_fired", detail=where + ": " + ", ".join(
                c.person_id for c in cursors)))
            actions.extend(Notify(incident_id=state.incident_id, person_id=c.person_id,
                                  channel=ch, round=rnd, step=idx, attempt=1)
                           for c in cursors for ch in c.waves[0])
            return replace(state, round=rnd, step=idx, cursors=cursors,
                           next_action_at=now + steps[idx].delay)
        skipped += 1
        if skipped >= len(steps) and policy.forever:
            # A forever policy that reaches nobody in a whole round: tell the admins
            # once and look again later, rather than spinning.
            if not state.admins_alerted:
                actions.extend(_admin_notifies(state, directory, "alert",
                                               "escalation reaches nobody", AlertSeverity.CRITICAL))
            return replace(state, round=rnd, step=idx, cursors=(), admins_alerted=True,
                           next_action_at=now + EMPTY_ROUND_RETRY)
