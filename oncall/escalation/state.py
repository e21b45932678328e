"""The escalation state of one incident, the events that change it and the actions
the engine asks for — plain frozen values, serialised to JSON for the database.

Persisted states carry ``"v": 1`` so a later release can migrate them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from oncall.interfaces import Channel

STATE_VERSION = 1


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
    events: tuple[Event, ...] = ()  # queued by the service, applied by the next step()

    def queue(self, event: Event) -> IncidentState:
        """Queue an event for the next step(); the store makes the incident due at once
        (see :meth:`wake_at`) without making its next escalation step due."""
        return replace(self, events=(*self.events, event))

    def wake_at(self, now: datetime) -> datetime | None:
        """When the runner should call step() for this incident."""
        if self.events:
            return now if self.next_action_at is None else min(now, self.next_action_at)
        return self.next_action_at


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
        "events": [_event_to_json(e) for e in state.events],
    }


def state_from_json(data: dict[str, Any]) -> IncidentState:
    if data.get("v") != STATE_VERSION:
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
        events=tuple(_event_from_json(e) for e in data["events"]),
    )
