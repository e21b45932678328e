"""The escalation engine: a pure function from (state, policy, directory, now, events)
to (new state, actions). It reads no clock, opens no socket and writes nothing; the
runner (:mod:`oncall.escalation.runner`) performs the actions.

Timing rule: when a step falls due the *next* step fires at ``now`` and the one after
waits its delay from ``now``. A daemon that was down for an hour therefore fires the
overdue step once on restart (coalesced) and skips none.

People's own notification rules: a person with a ``notify`` list paged by a step whose
contact is ``own`` gets their chain (:class:`PersonChain`) instead of the step's channel
waves: each entry goes out at its offset from the moment the step paged them, until somebody
acknowledges. A later step adds people and never cuts a running chain short (paging somebody
whose chain is still running leaves it running); entries overdue after downtime go out once
per channel. A step that names a channel (or ``both``) forces it for everyone, as before.

Acknowledgement timeout (a policy's ``ack_timeout``): an acknowledgement sets the instant it
runs out (``next_action_at`` while acknowledged). If neither a resolution nor the ticket's
solving came first, the incident is triggered again, the person who acknowledged is paged
first, and after the current step's delay the escalation goes on as usual.
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
    PersonChain,
    PersonCursor,
    Record,
    Resolve,
    WakeAt,
)
from oncall.fields import format_duration
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
    if (state.status is IncidentStatus.ACKNOWLEDGED and state.next_action_at is not None
            and state.next_action_at <= now):
        state = _ack_timed_out(state, policy, directory, now, actions)
    if (state.status is IncidentStatus.TRIGGERED and state.next_action_at is not None
            and state.next_action_at <= now):
        state = _advance(state, policy, directory, now, actions)
    if state.status is IncidentStatus.TRIGGERED:
        state = _run_chains(state, now, actions)
    else:
        # Acknowledged: next_action_at is the acknowledgement's timeout, if the policy has one.
        keep = state.next_action_at if state.status is IncidentStatus.ACKNOWLEDGED else None
        state = replace(state, next_action_at=keep, cursors=(), chains=())
    wake = state.due_at()
    if wake is not None:
        actions.append(WakeAt(at=wake))
    return state, actions


def _apply(state: IncidentState, event: Event, policy: EscalationPolicy, directory: Directory,
           now: datetime, actions: list[Action]) -> IncidentState:
    if isinstance(event, DeliveryFailed):
        return _delivery_failed(state, event, policy, directory, now, actions)
    state, more = transition(state, event, now, ack_timeout=policy.ack_timeout)
    actions.extend(more)
    return state


def transition(state: IncidentState, event: Ack | Resolve | Cancel | Escalate, now: datetime,
               *, ack_timeout: timedelta | None = None) -> tuple[IncidentState, list[Action]]:
    """Apply a human's or the ticket's decision. Needs no directory, so the incident
    service applies these at once; an escalation makes the next step due ``now`` and
    the runner fires it on its next pass. ``ack_timeout`` is the incident's policy's: an
    acknowledgement then lasts that long unless the incident is resolved."""
    now = now.astimezone(UTC)
    status = state.status
    if isinstance(event, Cancel):
        if not status.is_open:
            return state, []
        return _closed(state, IncidentStatus.CANCELLED), [Record(kind="cancelled",
                                                                  detail=event.reason)]
    verb = type(event).__name__.lower()
    if isinstance(event, Ack) and status is IncidentStatus.TRIGGERED:
        deadline = now + ack_timeout if ack_timeout else None
        new = replace(state, status=IncidentStatus.ACKNOWLEDGED, next_action_at=deadline,
                      cursors=(), chains=(), acked_by=event.actor)
        detail = "" if not ack_timeout or deadline is None else (
            f"ack timeout {format_duration(ack_timeout)}: triggered again at {deadline.isoformat()}"
            " unless resolved or the ticket is solved")
        return new, [Record(kind="acknowledged", actor=event.actor, channel=event.via,
                            detail=detail)]
    if isinstance(event, Resolve) and status.is_open:
        return _closed(state, IncidentStatus.RESOLVED), [
            Record(kind="resolved", actor=event.actor, channel=event.via, detail=event.reason)]
    if isinstance(event, Escalate) and status.is_open and not state.exhausted:
        # Escalating an acknowledged incident asks for help: it is triggered again.
        new = replace(state, status=IncidentStatus.TRIGGERED, next_action_at=now, acked_by=None)
        return new, [Record(kind="escalated", actor=event.actor, channel=event.via)]
    why = "policy exhausted" if state.exhausted and status.is_open else f"incident is {status}"
    return state, [Record(kind="ignored", actor=event.actor, channel=event.via,
                          detail=f"{verb}: {why}")]


def _closed(state: IncidentState, status: IncidentStatus) -> IncidentState:
    return replace(state, status=status, next_action_at=None, cursors=(), chains=(), events=())


def _delivery_failed(state: IncidentState, event: DeliveryFailed, policy: EscalationPolicy,
                     directory: Directory, now: datetime, actions: list[Action]) -> IncidentState:
    actions.append(Record(kind="delivery_failed", actor=event.person_id,
                          channel=event.channel.value, outcome="failed", detail=event.reason))
    if event.sms_blocked and not state.admins_alerted:
        actions.extend(_admin_notifies(state, directory, "alert",
                                       f"{event.person_id} blocked SMS from oncall (STOP)",
                                       AlertSeverity.WARNING))
        state = replace(state, admins_alerted=True)
    if event.sms_blocked and state.status is IncidentStatus.TRIGGERED:
        state = _chain_after_stop(state, event, now, actions)
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
          actions: list[Action], where: str, rnd: int, idx: int
          ) -> tuple[tuple[PersonCursor, ...], tuple[PersonChain, ...], tuple[str, ...]]:
    people = resolve_targets(step_def.targets, directory, now)
    return _page(state, people, step_def.contact, directory, now, actions, where, rnd, idx)


def _page(state: IncidentState, people: Sequence[str], mode: ContactMode | Channel,
          directory: Directory, now: datetime, actions: list[Action], where: str, rnd: int,
          idx: int) -> tuple[tuple[PersonCursor, ...], tuple[PersonChain, ...], tuple[str, ...]]:
    """Cursors (the step's channel waves) and new chains (people's own rules) for ``people``,
    and who is paged at all. A person whose chain is still running keeps it."""
    cursors: list[PersonCursor] = []
    chains: list[PersonChain] = []
    paged: list[str] = []
    running = {c.person_id for c in state.chains if c.next_at() is not None}
    for person in people:
        contact = directory.contact(person)
        entries = own_chain(contact) if contact and mode is ContactMode.OWN else ()
        if entries:
            paged.append(person)
            if person in running:
                actions.append(Record(kind="chain_running", actor=person, detail=(
                    f"{where}: their notification rules already run; not restarted")))
            else:
                chains.append(PersonChain(person_id=person, started=now, entries=entries,
                                          round=rnd, step=idx))
            continue
        waves = plan_channels(contact, mode) if contact else ()
        if not waves:
            actions.append(Record(kind="person_unreachable", actor=person,
                                  detail=f"{where}: no usable contact method"))
            continue
        cursors.append(PersonCursor(person_id=person, waves=waves))
        paged.append(person)
    if not paged:
        who = "nobody" if not people else "nobody reachable"
        actions.append(Record(kind="step_skipped", detail=f"{where}: targets resolve to {who}"))
    return tuple(cursors), tuple(chains), tuple(paged)


def own_chain(contact: Contact) -> tuple[tuple[Channel, timedelta], ...]:
    """The person's notification rules as they can be followed now: an entry on a channel
    they blocked (STOP) goes by the channel that takes over instead (a call); an entry on a
    channel they cannot be reached by is left out. Empty: no rules (or none usable), and the
    step's contact decides."""
    out: list[tuple[Channel, timedelta]] = []
    for channel, offset in contact.chain:
        if contact.can_use(channel):
            out.append((channel, offset))
        elif contact.sms_blocked:
            out.extend((c, offset) for c in after_stop((channel,)) if contact.can_use(c))
    return tuple(out)


def _chain_after_stop(state: IncidentState, event: DeliveryFailed, now: datetime,
                      actions: list[Action]) -> IncidentState:
    """The person's chain learnt they texted STOP: the text that failed goes by the channel
    that takes over (a call) now, and so do their later entries on blocked channels."""
    chains = []
    for chain in state.chains:
        instead = after_stop((event.channel,))
        if chain.person_id != event.person_id or not instead:
            chains.append(chain)
            continue
        rest = [(c, off) for channel, off in chain.entries[chain.sent:]
                for c in (after_stop((channel,)) or (channel,))]
        at_once = [(c, now - chain.started) for c in instead]
        actions.append(Record(kind="failover", actor=chain.person_id,
                              detail=f"texted STOP: {', '.join(instead)} now and for their later texts"))
        chains.append(replace(chain, entries=(*chain.entries[:chain.sent], *at_once, *rest)))
    return replace(state, chains=tuple(chains))


def _run_chains(state: IncidentState, now: datetime, actions: list[Action]) -> IncidentState:
    """Send every chain entry that is due; entries overdue together go out once per channel."""
    if not state.chains:
        return state
    chains: list[PersonChain] = []
    for chain in state.chains:
        due: list[Channel] = []
        i = chain.sent
        while i < len(chain.entries) and chain.started + chain.entries[i][1] <= now:
            due.append(chain.entries[i][0])
            i += 1
        actions.extend(Notify(incident_id=state.incident_id, person_id=chain.person_id, channel=ch,
                              round=chain.round, step=chain.step, attempt=i, personal=True)
                       for ch in dict.fromkeys(due))
        if i < len(chain.entries):
            chains.append(replace(chain, sent=i))
    return replace(state, chains=tuple(chains))


def _ack_timed_out(state: IncidentState, policy: EscalationPolicy, directory: Directory,
                   now: datetime, actions: list[Action]) -> IncidentState:
    """The acknowledgement ran out: triggered again, the acknowledger paged first, then the
    current step's delay before the escalation goes on (at once if they cannot be paged)."""
    acker = state.acked_by
    timeout = format_duration(policy.ack_timeout) if policy.ack_timeout else "its timeout"
    actions.append(Record(kind="ack_timeout", actor="oncall", detail=(
        f"acknowledged by {acker or 'somebody'} but neither resolved nor the ticket solved within "
        f"{timeout}: triggered again" + (f", paging {acker} first" if acker else ""))))
    state = replace(state, status=IncidentStatus.TRIGGERED, acked_by=None, next_action_at=None)
    idx = max(state.step, 0)
    cursors, chains, paged = _page(state, (acker,) if acker else (), ContactMode.OWN, directory,
                                   now, actions, "ack timeout", state.round, state.step)
    actions.extend(Notify(incident_id=state.incident_id, person_id=c.person_id, channel=ch,
                          round=state.round, step=state.step, attempt=1)
                   for c in cursors for ch in c.waves[0])
    if state.exhausted:
        nxt = None  # no step left: the acknowledger is paged and the incident stays open
    elif paged and policy.steps:
        nxt = now + policy.steps[idx].delay
    else:
        nxt = now
    return replace(state, cursors=cursors, chains=(*state.chains, *chains), next_action_at=nxt)


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
        cursors, chains, paged = _fire(state, steps[idx], directory, now, actions, where, rnd, idx)
        if paged:
            actions.append(Record(kind="step_fired", detail=where + ": " + ", ".join(paged)))
            actions.extend(Notify(incident_id=state.incident_id, person_id=c.person_id,
                                  channel=ch, round=rnd, step=idx, attempt=1)
                           for c in cursors for ch in c.waves[0])
            running = tuple(c for c in state.chains if c.next_at() is not None)
            return replace(state, round=rnd, step=idx, cursors=cursors,
                           chains=(*running, *chains), next_action_at=now + steps[idx].delay)
        skipped += 1
        if skipped >= len(steps) and policy.forever:
            # A forever policy that reaches nobody in a whole round: tell the admins
            # once and look again later, rather than spinning.
            if not state.admins_alerted:
                actions.extend(_admin_notifies(state, directory, "alert",
                                               "escalation reaches nobody", AlertSeverity.CRITICAL))
            return replace(state, round=rnd, step=idx, cursors=(), admins_alerted=True,
                           next_action_at=now + EMPTY_ROUND_RETRY)
