"""Telling the ticket what oncall did: internal notes from the audit log, public replies.

The audit log already records every page, acknowledgement, escalation and exhaustion,
whichever process caused it (daemon, CLI, API). A cursor in the database remembers the
last audit row written back, so notes survive restarts and none is posted twice in
normal operation (a crash mid-batch may repeat at most that batch). With several instances
only the holder of the ``writeback`` lease posts: it checks the lease before each note and
moves the cursor only while it holds it (``fence``), so an instance woken from a freeze after
another took over posts nothing more.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from oncall import logs
from oncall.customer_replies import DEFAULT_NOT_COVERED, render, when
from oncall.rules import Decision
from oncall.sources.writeback import (
    Note,
    WriteBack,
    acknowledged_note,
    escalated_note,
    exhausted_note,
    page_sent_note,
    public_reply_note,
)
from oncall.store.inbox import get_cursor
from oncall.store.leases import UNFENCED, Fencing, fenced_set_cursor
from oncall.store.tables import audit, incidents

log = logs.get("oncall.writeback")
CURSOR = "writeback:audit"


def note_for(row: Any) -> Note | None:
    """The ticket note an audit row deserves, if any (pure)."""
    kind, source, ticket, at = row.kind, row.source, row.ticket_id, row.at
    if kind == "notification" and (row.outcome or "") in ("sent", "delivered", "printed"):
        return page_sent_note(source, ticket, people=[row.actor], at=at, incident_id=f"#{row.incident_id}")
    if kind == "acknowledged":
        return acknowledged_note(source, ticket, by=row.actor, at=at)
    if kind == "escalated":
        return escalated_note(source, ticket, people=[row.actor], at=at)
    if kind == "exhausted":
        return exhausted_note(source, ticket, at=at)
    return None


def public_reply_text(decision: Decision, desk_name: str, template: str = DEFAULT_NOT_COVERED,
                      ticket_id: str = "") -> str:
    """The "not covered after hours" reply: when the desk opens and the response target."""
    respond_by = when(decision.respond_by) if decision.respond_by else "-"
    return render(template, {
        "desk": desk_name, "opens_at": when(decision.next_business_open), "respond_by": respond_by,
        "respond_by_sentence": f" We aim to respond by {respond_by}." if decision.respond_by else "",
        "ticket": ticket_id})


# (source, ticket id, customer, paged at, acknowledged at) → the public reply, or None when the
# source does not answer acknowledgements or the page was not an after-hours one.
AckReply = Callable[[str, str, str | None, datetime, datetime], str | None]


class WriteBackFeed:
    def __init__(self, engine: Engine, writebacks: Mapping[str, WriteBack], *,
                 public: Callable[[str], bool] = lambda _s: False, fence: Fencing = UNFENCED) -> None:
        self.engine = engine
        self.fence = fence
        self.writebacks = writebacks
        self.public = public
        self.pending: deque[Note] = deque()
        self.ack_reply: AckReply | None = None

    def answer_acknowledgements(self, reply: AckReply) -> None:
        """Also post a public reply when an after-hours page is acknowledged (``reply`` words it)."""
        self.ack_reply = reply

    def queue_public_reply(self, source: str, ticket_id: str, decision: Decision, desk_name: str,
                           at: datetime, template: str = DEFAULT_NOT_COVERED) -> bool:
        """For a customer not entitled to after-hours help (off unless the source allows it)."""
        if source not in self.writebacks or not self.public(source):
            return False
        text = public_reply_text(decision, desk_name, template, ticket_id)
        self.pending.append(public_reply_note(source, ticket_id, text=text, at=at))
        return True

    def _ack_reply(self, row: Any) -> Note | None:
        if self.ack_reply is None or row.kind != "acknowledged":
            return None
        text = self.ack_reply(row.source, row.ticket_id, row.customer, row.paged_at, row.at)
        return None if text is None else public_reply_note(row.source, row.ticket_id, text=text, at=row.at)

    def run_once(self, now: datetime, batch: int = 200) -> int:
        posted = 0
        while self.pending:
            self.fence.check()
            queued = self.pending.popleft()
            posted += bool(self.writebacks[queued.source].post(queued))
        if not self.writebacks:
            return posted
        last = int(get_cursor(self.engine, CURSOR) or 0)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(audit.c.id, audit.c.incident_id, audit.c.at, audit.c.actor, audit.c.kind, audit.c.outcome,
                       incidents.c.source, incidents.c.ticket_id, incidents.c.customer,
                       incidents.c.created_at.label("paged_at"))
                .join(incidents, incidents.c.id == audit.c.incident_id)
                .where(audit.c.id > last).order_by(audit.c.id).limit(batch)).all()
        for row in rows:
            wb = self.writebacks.get(row.source)
            reply = self._ack_reply(row) if wb is not None else None
            if reply is not None and wb is not None:
                posted += bool(wb.post(reply))
            note = note_for(row) if wb is not None else None
            if note is not None and wb is not None:
                self.fence.check()
                posted += bool(wb.post(note))
        if rows:
            fenced_set_cursor(self.engine, self.fence, CURSOR, str(rows[-1].id), now)
        return posted
