"""The hand-over's words and order, pure: what waited, why it did not page, and what to text.

A ticket that did not page while its desk was closed (closed hours, a holiday, an
emergency-only day) waits for the desk's next opening (``desks.next_open``). At that opening
the people on duty get one hand-over: an SMS summary and, where configured, the full list by
e-mail or chat — most urgent first: priority, then severity, then the earliest respond-by.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from oncall.rules import Decision
from oncall.tickets import Priority, Severity, Status

SMS_LIMIT = 320  # two SMS segments; the digest has the whole list


@dataclass(frozen=True, kw_only=True)
class WaitingTicket:
    """One ticket waiting for its desk's hand-over (a row of ``waiting_tickets``)."""

    source: str
    ticket_id: str
    desk: str
    priority: Priority
    severity: Severity | None
    customer: str | None
    subject: str
    status: Status
    reason: str
    rule: str | None
    respond_by: datetime | None
    handover_at: datetime
    page_policy: str | None
    received_at: datetime


def why_not_paged(decision: Decision) -> str:
    """Why a ticket did not page, in a few words for the hand-over."""
    if decision.page_at_opening:
        return f"rule {decision.rule!r} waits for the opening"
    closed = {"holiday": f"closed for {decision.holiday}",
              "emergency-only": f"emergency-only day ({decision.holiday})"}.get(decision.desk_state.value,
                                                                                "desk closed")
    if not decision.entitled:
        return f"{closed}; customer not entitled to after-hours help"
    if decision.rule is None:
        return f"{closed}; no paging rule"
    return f"{closed}; rule {decision.rule!r} does not page"


def why_no_longer_paged(priority: Priority, severity: Severity | None, decision: Decision) -> str:
    """Why a ticket that paged no longer does (its priority or severity lowered while the desk
    was closed, its page called off): it waits for the hand-over like one that never paged."""
    level = priority.value + (f"/{severity.value}" if severity else "")
    return f"priority lowered to {level} after paging; {why_not_paged(decision)}"


def by_urgency(tickets: Iterable[WaitingTicket]) -> list[WaitingTicket]:
    """Most urgent first: priority, severity, the earliest respond-by, the oldest."""
    far = datetime.max.replace(tzinfo=ZoneInfo("UTC"))
    return sorted(tickets, key=lambda t: (-t.priority.rank, -(t.severity.rank if t.severity else 0),
                                          t.respond_by or far, t.received_at, t.source, t.ticket_id))


def _when(t: datetime | None, tz: ZoneInfo) -> str:
    return "-" if t is None else f"{t.astimezone(tz):%a %H:%M}"


def _who(ticket: WaitingTicket, customers: Mapping[str, str]) -> str:
    return customers.get(ticket.customer or "", ticket.customer or "unknown customer")


@dataclass(frozen=True, kw_only=True)
class HandoverText:
    """What one hand-over says: a short text, the full digest (e-mail), and the digest for a chat
    room — the subject, then one line per ticket (a post shows a dozen lines, then "and N more")."""

    subject: str
    sms: str
    digest: str
    chat: str = ""


def handover_text(desk_name: str, opening: datetime, tz: ZoneInfo, tickets: list[WaitingTicket], *,
                  customers: Mapping[str, str], paged: Mapping[tuple[str, str], str], addition: bool = False,
                  ) -> HandoverText:
    """The hand-over of ``tickets`` (already in urgency order) at ``opening``; ``paged`` names the
    policy of those paged at the opening (a rule's ``page: at_opening``)."""
    n = len(tickets)
    what = "addition to the hand-over" if addition else "hand-over"
    head = f"oncall {desk_name} {what}: {n} ticket{'s' if n != 1 else ''} waited while closed"
    subject = f"{head} (opening {opening.astimezone(tz):%a %Y-%m-%d %H:%M %Z})"
    lines = []
    chat = [subject]
    for t in tickets:
        key = (t.source, t.ticket_id)
        paging = f"; PAGED through {paged[key]}" if key in paged else ""
        respond = f"respond by {_long(t.respond_by, tz)}" if t.respond_by else "no response target"
        chat.append(f"{t.priority.value.upper()}{'/' + t.severity.value if t.severity else ''} "
                    f"{t.source} #{t.ticket_id} {_who(t, customers)}: {t.subject or '(no subject)'} — "
                    f"{t.reason}{paging}; {respond}")
        lines.append(f"- {t.priority.value.upper()}{'/' + t.severity.value if t.severity else ''} "
                     f"{t.source} #{t.ticket_id} {_who(t, customers)}: {t.subject or '(no subject)'}\n"
                     f"  why not paged: {t.reason}{paging}\n"
                     f"  respond by: {_long(t.respond_by, tz) if t.respond_by else 'no response target'}")
    digest = subject + "\n\n" + "\n".join(lines) + "\n"
    sms = head + ": " + "; ".join(
        f"{t.priority.value.upper()} #{t.ticket_id} {_who(t, customers)} by {_when(t.respond_by, tz)}"
        for t in tickets)
    if len(sms) > SMS_LIMIT:
        sms = sms[:SMS_LIMIT - 1] + "…"
    return HandoverText(subject=subject, sms=sms, digest=digest, chat="\n".join(chat))


def _long(t: datetime, tz: ZoneInfo) -> str:
    return f"{t.astimezone(tz):%a %Y-%m-%d %H:%M %Z}"
