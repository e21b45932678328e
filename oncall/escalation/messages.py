"""Page texts and the storm gate.

Page texts come from the notify package's templates (GSM-7 aware, one segment where
they can); a call gets the spoken script instead of the SMS wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from oncall.interfaces import Channel
from oncall.notify.channels import CHANNELS
from oncall.notify.messages import PageSummary, bundle_sms, page_sms, voice_script

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


def _summary(page: PageSubject) -> PageSummary:
    return PageSummary(code=page.short_code, priority=page.priority, customer=page.customer or "",
                       subject=page.subject, ticket_id=page.ticket_id)


def page_text(page: PageSubject, channel: Channel = Channel.SMS) -> str:
    """SMS: ``URGENT #3 acme: Production down (ticket T-1001). Reply 3a ack, 3e escalate``
    (one GSM-7 segment where it can), and the same wording on every channel that is not read
    aloud; voice (a spoken channel): the script a call reads, with the keys to press. A channel
    whose descriptor has a ``wording`` writes its own."""
    spec = CHANNELS[channel]
    if spec.wording is not None:
        return spec.wording([_summary(page)])
    if spec.spoken:
        return voice_script(page.priority, page.customer or "a customer", page.subject or "no subject",
                            page.ticket_id)
    return page_sms(page.short_code, page.priority, page.customer or "", page.subject, page.ticket_id)


def bundle_text(pages: list[PageSubject], channel: Channel = Channel.SMS) -> str:
    """``12 new urgent incidents, oldest #3 acme: Production down. Reply AA to ack all``."""
    if len(pages) == 1:
        return page_text(pages[0], channel)
    ordered = sorted(pages, key=lambda p: p.incident_id)
    spec = CHANNELS[channel]
    if spec.wording is not None:
        return spec.wording([_summary(p) for p in ordered])
    if spec.spoken:
        oldest = ordered[0]
        return (f"{len(pages)} new incidents. The oldest: "
                + voice_script(oldest.priority, oldest.customer or "a customer", oldest.subject or "no subject",
                               oldest.ticket_id))
    return bundle_sms([_summary(p) for p in ordered])


def _fit(head: str, middle: str, tail: str, limit: int = SMS_LIMIT) -> str:
    """Shorten ``middle`` (the free text) so the whole message fits ``limit`` (GSM-7 safe)."""
    room = limit - len(head) - len(tail)
    if len(middle) > room:
        middle = middle[: max(room - 3, 0)].rstrip() + "..."
    return head + middle + tail


def alert_text(note: str, page: PageSubject) -> str:
    """A message to an admin about an incident (exhausted policy, blocked phone…)."""
    head = f"ONCALL ADMIN: {note}. Incident #{page.incident_id} "
    tail = f" (ticket {page.ticket_id[:30]})"
    return _fit(head, " ".join(page.subject.split()), tail)


def gate(last_sent: datetime | None, min_interval: timedelta, now: datetime) -> datetime | None:
    """None when a message to this person on this channel may go out now; otherwise
    the earliest instant it may (the storm limit). ``min_interval`` is the channel's
    limit: ``notifications.<channel>`` or else its descriptor's default (see
    :meth:`oncall.escalation.policy.NotificationSettings.min_interval`)."""
    if last_sent is None or now >= last_sent + min_interval:
        return None
    return last_sent + min_interval
