"""Page texts and the storm gate.

The texts are deliberately small functions so the notify package's message
templates can replace them. SMS texts stay within 160 characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SMS_LIMIT = 160


@dataclass(frozen=True, kw_only=True)
class PageSubject:
    """What a page says about one incident."""

    incident_id: int
    short_code: int
    priority: str
    customer: str | None
    subject: str
    ticket_id: str


def _fit(head: str, middle: str, tail: str, limit: int = SMS_LIMIT) -> str:
    """Shorten ``middle`` (the free text) so the whole message fits ``limit``."""
    room = limit - len(head) - len(tail)
    if len(middle) > room:
        middle = middle[: max(room - 1, 0)].rstrip() + "…"
    return head + middle + tail


def page_text(page: PageSubject) -> str:
    """``URGENT #3 acme: Production down (ticket T-1001). Reply 3a ack, 3e escalate``."""
    who = f" {page.customer}" if page.customer else ""
    head = f"{page.priority.upper()} #{page.short_code}{who}: "
    tail = (f" (ticket {page.ticket_id[:30]}). "
            f"Reply {page.short_code}a ack, {page.short_code}e escalate")
    return _fit(head, " ".join(page.subject.split()) or "(no subject)", tail)


def bundle_text(pages: list[PageSubject]) -> str:
    """``12 new urgent incidents, oldest #3 acme: Production down. Reply ACK ALL``."""
    if len(pages) == 1:
        return page_text(pages[0])
    oldest = min(pages, key=lambda p: p.incident_id)
    words = {p.priority for p in pages}
    kind = f"{words.pop()} " if len(words) == 1 else ""
    who = f" {oldest.customer}" if oldest.customer else ""
    head = f"{len(pages)} new {kind}incidents, oldest #{oldest.short_code}{who}: "
    tail = ". Reply ACK ALL, or e.g. " f"{oldest.short_code}a for one"
    return _fit(head, " ".join(oldest.subject.split()) or "(no subject)", tail)


def alert_text(note: str, page: PageSubject) -> str:
    """A message to an admin about an incident (exhausted policy, blocked phone…)."""
    head = f"ONCALL ADMIN: {note}. Incident #{page.incident_id} "
    tail = f" (ticket {page.ticket_id[:30]})"
    return _fit(head, " ".join(page.subject.split()), tail)


def gate(last_sent: datetime | None, min_interval: timedelta, now: datetime) -> datetime | None:
    """None when a message to this person on this channel may go out now; otherwise
    the earliest instant it may (the storm limit)."""
    if last_sent is None or now >= last_sent + min_interval:
        return None
    return last_sent + min_interval
