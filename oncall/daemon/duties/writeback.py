"""The write-back duty: notes on the helpdesk's tickets from the audit log (paged,
acknowledged — by any channel, the CLI and API included —, escalated, exhausted) and the
queued public replies. Present when some source writes back.

A source with ``PUBLIC_ACK_REPLIES`` also gets a public reply when an after-hours page is
acknowledged (a page that went out while the ticket's desk was closed), worded by the
configuration's ``customer_replies.acknowledged`` with times in the desk's zone."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from oncall.config.snapshot import Snapshot
from oncall.customer_replies import render, when
from oncall.daemon.duties.base import DutyReport, Pacing
from oncall.desks import business_time
from oncall.sources.settings import SourceSettings
from oncall.writeback_feed import AckReply, WriteBackFeed


class WriteBackDuty:
    name = "writeback"
    pacing = Pacing.INTERVAL
    at_start = False
    singleton = True

    def __init__(self, feed: WriteBackFeed, *, interval: timedelta, ack_reply: AckReply | None = None) -> None:
        self.feed = feed
        self.interval = interval
        if ack_reply is not None:
            feed.answer_acknowledgements(ack_reply)

    def run_once(self, now: datetime) -> DutyReport:
        return DutyReport(done=self.feed.run_once(now))


def acknowledgement_reply(sources: Mapping[str, SourceSettings], snapshot: Callable[[], Snapshot]) -> AckReply | None:
    """The public reply to an acknowledged after-hours page, for the sources that want one."""
    if not any(s.public_ack_replies for s in sources.values()):
        return None

    def reply(source: str, ticket_id: str, customer: str | None, paged_at: datetime, acked_at: datetime) -> str | None:
        settings = sources.get(source)
        if settings is None or not settings.public_ack_replies:
            return None
        snap = snapshot()
        known = snap.customers.get(customer or "")
        desk = snap.desks.get(known.desk) if known is not None and known.desk else None
        desk = desk or snap.default_desk
        if business_time.is_open(desk, paged_at):
            return None  # paged during business hours: not an after-hours page
        tz = desk.timezone
        return render(snap.customer_replies.acknowledged, {
            "desk": desk.name or desk.id, "paged_at": when(paged_at.astimezone(tz)),
            "acknowledged_at": when(acked_at.astimezone(tz)), "ticket": ticket_id})

    return reply
