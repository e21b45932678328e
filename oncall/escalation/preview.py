"""Who a page would reach at an instant, by which channel, and when the next step would fire.

``oncall explain`` shows this for a ticket that pages. Nothing is sent: the escalation engine
(:func:`oncall.escalation.engine.step`) is run on a fresh incident at the evaluated instant and
the actions it returns are read — its first notifications and the instant it would wake for
the next step — so the preview follows the engine's rules exactly (a step reaching nobody is
skipped at once, ``both`` sends two channels, a person's own contact methods…). Addresses are
masked. Whether someone has texted STOP lives in the service's database, not here: a preview
assumes nobody has. A person with their own notification rules is listed once per entry of their
chain, each at its instant (the chain runs until somebody acknowledges); the policy's
acknowledgement timeout, if it has one, is said too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from oncall.escalation.directory import Directory
from oncall.escalation.engine import step
from oncall.escalation.policy import EscalationPolicy
from oncall.escalation.state import Notify, Record, new_state
from oncall.fields import format_duration
from oncall.interfaces import Channel
from oncall.notify.channels import CHANNELS

# What the engine records about a step that reaches nobody, or a policy that ends.
_TOLD = ("step_skipped", "person_unreachable", "exhausted", "admin_unreachable")


@dataclass(frozen=True, kw_only=True)
class WouldPage:
    """``person`` would be notified on ``channel`` at ``to`` (masked) at ``at``."""

    person: str
    channel: Channel
    to: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class PagingPreview:
    would_page: tuple[WouldPage, ...] = ()  # now, then each later entry of people's own chains
    admins: tuple[WouldPage, ...] = ()  # told because the policy reaches nobody or ends
    next_step_at: datetime | None = None
    notes: tuple[str, ...] = ()
    policy: str | None = None
    ack_timeout: timedelta | None = None
    at: datetime | None = None  # the instant previewed

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "would_page": [_json(p) for p in self.would_page],
            "next_step_at": self.next_step_at.isoformat() if self.next_step_at else None,
            "paging_notes": list(self.notes),
        }
        if self.policy is not None:
            out["ack_timeout"] = format_duration(self.ack_timeout) if self.ack_timeout else None
        return out

    def lines(self) -> list[str]:
        """The preview for the text form of ``oncall explain`` (indented like its facts)."""
        now = tuple(p for p in self.would_page if self.at is None or p.at == self.at)
        later = tuple(p for p in self.would_page if p not in now)
        if now:
            out = [f"  would page now: {_people(now)}, at {now[0].at.isoformat()}"]
        elif later:  # a chain whose first entry waits
            out = ["  would page now: nobody yet (their own rules wait)"]
        else:
            out = ["  would page now: NOBODY"]
        out.extend(f"  then, until somebody acknowledges: {p.person} by {p.channel} to {p.to}, "
                   f"at {p.at.isoformat()}" for p in later)
        out.extend(f"    - {note}" for note in self.notes)
        if self.policy is not None and self.ack_timeout:
            out.append(f"  policy {self.policy}: an acknowledgement times out after "
                       f"{format_duration(self.ack_timeout)} (triggered again, the acknowledger "
                       "paged first, unless resolved or the ticket is solved)")
        if self.admins:
            out.append(f"  admins told: {_people(self.admins)}")
        if self.next_step_at is not None:
            out.append(f"  next step: {self.next_step_at.isoformat()}, if nobody acknowledges")
        else:
            out.append("  next step: none, the policy ends")
        return out


def _json(p: WouldPage) -> dict[str, str]:
    return {"person": p.person, "channel": p.channel.value, "to": p.to, "at": p.at.isoformat()}


def _people(pages: tuple[WouldPage, ...]) -> str:
    return "; ".join(f"{p.person} by {p.channel} to {p.to}" for p in pages)


def preview_page(policy: EscalationPolicy, directory: Directory, now: datetime,
                 tz: ZoneInfo) -> PagingPreview:
    """What paging through ``policy`` at ``now`` would do first; times shown in ``tz``."""
    state, actions = step(new_state(0, now), policy, directory, now)
    at = now.astimezone(tz)

    def reached(purpose_is_page: bool) -> tuple[WouldPage, ...]:
        found = []
        for a in actions:
            if isinstance(a, Notify) and (a.purpose == "page") == purpose_is_page:
                contact = directory.contact(a.person_id)
                address = contact.address(a.channel) if contact else None
                found.append(WouldPage(person=a.person_id, channel=a.channel, at=at,
                                       to=CHANNELS[a.channel].mask(address) if address else "-"))
        return tuple(found)

    later = []
    for chain in state.chains:
        contact = directory.contact(chain.person_id)
        for channel, offset in chain.entries[chain.sent:]:
            address = contact.address(channel) if contact else None
            later.append(WouldPage(person=chain.person_id, channel=channel,
                                   at=(chain.started + offset).astimezone(tz),
                                   to=CHANNELS[channel].mask(address) if address else "-"))
    later.sort(key=lambda p: p.at)
    return PagingPreview(
        would_page=reached(True) + tuple(later), admins=reached(False),
        policy=policy.id, ack_timeout=policy.ack_timeout, at=at,
        next_step_at=state.next_action_at.astimezone(tz) if state.next_action_at else None,
        notes=tuple(a.detail for a in actions if isinstance(a, Record) and a.kind in _TOLD))
