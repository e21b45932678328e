"""The escalation state of one incident, the events that change it and the actions
the engine asks for — plain frozen values, serialised to JSON for the database.

Persisted states carry a version (``"v"``): version 2 added the people's own notification
chains and who acknowledged; a version 1 state (stored before) loads with none of either.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from oncall.interfaces import Channel

STATE_VERSION = 2
_LOADABLE_VERSIONS = (1, 2)


class IncidentStatus(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self in (IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED)


@dataclass(frozen=True, kw_only=True)
class PersonCursor:
    """Where one paged person is in their list of channels for the current step.

    ``waves`` are tried one after another; the channels of one wave go out together
    (contact mode ``both``). When every channel of the current wave has failed, the
    next wave goes out at once instead of waiting for the step's delay.
    """

    person_id: str
    waves: tuple[tuple[Channel, ...], ...]
    wave: int = 0
    failed: tuple[Channel, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PersonChain:
    """A paged person's own notification rules (their ``notify`` list), running from
    ``started`` (when a step paged them) until somebody acknowledges. ``entries`` are the
    channels with their offsets from ``started``, repeats unrolled; ``sent`` of them went
    out. ``round`` and ``step`` are those of the step that started the chain: a later step
    adds people and never cuts this chain short."""

    person_id: str
    started: datetime
    entries: tuple[tuple[Channel, timedelta], ...]
    round: int
    step: int
    sent: int = 0

    def next_at(self) -> datetime | None:
        """When the next entry is due; None once every entry went out."""
        if self.sent >= len(self.entries):
            return None
        return self.started + self.entries[self.sent][1]


# ---- events: inputs to step() -------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Ack:
    actor: str
    via: str = "cli"


@dataclass(frozen=True, kw_only=True)
class Escalate:
    actor: str
    via: str = "cli"


@dataclass(frozen=True, kw_only=True)
class Resolve:
    actor: str
    via: str = "cli"
    reason: str = ""  # e.g. "ticket solved": said in the audit log


@dataclass(frozen=True, kw_only=True)
class Cancel:
    reason: str


@dataclass(frozen=True, kw_only=True)
class DeliveryFailed:
    """A page did not reach the person: SMS failed/undelivered, call not answered."""

    person_id: str
    channel: Channel
    round: int
    step: int
    reason: str
    sms_blocked: bool = False  # the person texted STOP (the transport said AddressOptedOut)


Event = Ack | Escalate | Resolve | Cancel | DeliveryFailed
_EVENT_TYPES: dict[str, type[Any]] = {
    "ack": Ack, "escalate": Escalate, "resolve": Resolve, "cancel": Cancel,
    "delivery_failed": DeliveryFailed,
}
_EVENT_NAMES = {v: k for k, v in _EVENT_TYPES.items()}


# ---- actions: outputs of step() -----------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Notify:
    """Page ``person_id`` on ``channel``. ``purpose`` is page, exhausted or alert."""

    incident_id: int
    person_id: str
    channel: Channel
    round: int
    step: int
    attempt: int  # 1 for the step's first wave, 2 for the first failover…
    purpose: str = "page"
    note: str = ""
    personal: bool = False  # an entry of the person's own notification rules (never delayed if it rings)


@dataclass(frozen=True, kw_only=True)
class WakeAt:
    at: datetime


@dataclass(frozen=True, kw_only=True)
class Record:
    """An audit entry."""

    kind: str
    detail: str = ""
    actor: str = "oncall"
    channel: str | None = None
    outcome: str | None = None


@dataclass(frozen=True, kw_only=True)
class Exhausted:
    incident_id: int
    rounds: int


Action = Notify | WakeAt | Record | Exhausted


@dataclass(frozen=True, kw_only=True)
class IncidentState:
    incident_id: int
    status: IncidentStatus = IncidentStatus.TRIGGERED
    round: int = 0
    step: int = -1  # index of the step fired last; -1 before the first
    next_action_at: datetime | None = None
    exhausted: bool = False
    admins_alerted: bool = False
    cursors: tuple[PersonCursor, ...] = ()
    chains: tuple[PersonChain, ...] = ()  # people paged by their own notification rules
    acked_by: str | None = None  # who acknowledged (paged first when the acknowledgement times out)
    events: tuple[Event, ...] = ()  # queued by the service, applied by the next step()

    def queue(self, event: Event) -> IncidentState:
        """Queue an event for the next step(); the store makes the incident due at once
        (see :meth:`wake_at`) without making its next escalation step due."""
        return replace(self, events=(*self.events, event))

    def due_at(self) -> datetime | None:
        """The earliest of the next step (or, acknowledged, the acknowledgement's timeout)
        and the next entry of a running notification chain."""
        found = [t for t in (self.next_action_at, *(c.next_at() for c in self.chains))
                 if t is not None]
        return min(found, default=None)

    def wake_at(self, now: datetime) -> datetime | None:
        """When the runner should call step() for this incident."""
        due = self.due_at()
        if self.events:
            return now if due is None else min(now, due)
        return due


def new_state(incident_id: int, now: datetime) -> IncidentState:
    """A freshly triggered incident: its first step is due now."""
    return IncidentState(incident_id=incident_id, next_action_at=now)


# ---- JSON codec ---------------------------------------------------------------------


def _event_to_json(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {"type": _EVENT_NAMES[type(event)], **vars(event)}
    if isinstance(event, DeliveryFailed):
        data["channel"] = event.channel.value
    return data


def _event_from_json(data: dict[str, Any]) -> Event:
    fields = {k: v for k, v in data.items() if k != "type"}
    if "channel" in fields:
        fields["channel"] = Channel(fields["channel"])
    event: Event = _EVENT_TYPES[data["type"]](**fields)
    return event


def state_to_json(state: IncidentState) -> dict[str, Any]:
    return {
        "v": STATE_VERSION,
        "incident_id": state.incident_id,
        "status": state.status.value,
        "round": state.round,
        "step": state.step,
        "next_action_at": state.next_action_at.isoformat() if state.next_action_at else None,
        "exhausted": state.exhausted,
        "admins_alerted": state.admins_alerted,
        "cursors": [
            {"person_id": c.person_id, "waves": [[ch.value for ch in w] for w in c.waves],
             "wave": c.wave, "failed": [ch.value for ch in c.failed]}
            for c in state.cursors
        ],
        "chains": [
            {"person_id": c.person_id, "started": c.started.isoformat(),
             "entries": [[ch.value, off.total_seconds()] for ch, off in c.entries],
             "round": c.round, "step": c.step, "sent": c.sent}
            for c in state.chains
        ],
        "acked_by": state.acked_by,
        "events": [_event_to_json(e) for e in state.events],
    }


def state_from_json(data: dict[str, Any]) -> IncidentState:
    if data.get("v") not in _LOADABLE_VERSIONS:
        raise ValueError(f"unsupported escalation state version {data.get('v')!r}")
    nxt = data["next_action_at"]
    return IncidentState(
        incident_id=int(data["incident_id"]),
        status=IncidentStatus(data["status"]),
        round=int(data["round"]),
        step=int(data["step"]),
        next_action_at=datetime.fromisoformat(nxt) if nxt else None,
        exhausted=bool(data["exhausted"]),
        admins_alerted=bool(data["admins_alerted"]),
        cursors=tuple(
            PersonCursor(
                person_id=c["person_id"],
                waves=tuple(tuple(Channel(ch) for ch in w) for w in c["waves"]),
                wave=int(c["wave"]),
                failed=tuple(Channel(ch) for ch in c["failed"]),
            )
            for c in data["cursors"]
        ),
        chains=tuple(
            PersonChain(
                person_id=c["person_id"], started=datetime.fromisoformat(c["started"]),
                entries=tuple((Channel(ch), timedelta(seconds=off)) for ch, off in c["entries"]),
                round=int(c["round"]), step=int(c["step"]), sent=int(c["sent"]),
            )
            for c in data.get("chains", ())  # version 1 had none
        ),
        acked_by=data.get("acked_by"),
        events=tuple(_event_from_json(e) for e in data["events"]),
    )
