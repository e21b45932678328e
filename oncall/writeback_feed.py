"""Telling the ticket what oncall did: internal notes from the audit log, public replies.

The audit log already records every page, acknowledgement, escalation and exhaustion,
whichever process caused it (daemon, CLI, API). A cursor in the database remembers the
last audit row written back, so notes survive restarts and none is posted twice in
normal operation (a crash mid-batch may repeat at most that batch). With several instances
only the holder of the ``writeback`` lease posts: it checks the lease before each note and
moves the cursor only while it holds it (``fence``), so an instance woken from a freeze after
another took over posts nothing more.

Public replies ("the desk opens at …") are queued in the database
(:mod:`oncall.store.public_replies`) by whichever instance's engine decided the ticket, right
after the decision commits, one per ticket; the lease holder posts them, each claimed under
the fence first. A failed post is tried again at the next runs after :data:`REPLY_RETRY`,
doubling, :data:`REPLY_ATTEMPTS` posts in all (each post makes its own quick retries); every
failure is logged and counted (``on_failure``). A reply whose poster died mid-post is never
posted again (it may have gone out): a customer is answered at most once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import SQLAlchemyError

from oncall import logs
from oncall.customer_replies import DEFAULT_NOT_COVERED, render, when
from oncall.errors import LeaseLost
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
from oncall.store.public_replies import SENDING, PublicReplies, QueuedReply
from oncall.store.tables import audit, incidents

log = logs.get("oncall.writeback")
CURSOR = "writeback:audit"
NOT_COVERED = "not_covered"  # the kind of the "not covered after hours" reply: one per ticket
REPLY_ATTEMPTS = 5
REPLY_RETRY = timedelta(minutes=1)


def next_reply_attempt(attempts: int, now: datetime) -> datetime | None:
    """When to post a public reply again after ``attempts`` failed posts; None: give up (pure)."""
    if attempts >= REPLY_ATTEMPTS:
        return None
    wait: timedelta = REPLY_RETRY * 2 ** (attempts - 1)
    return now + wait


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


# (source, outcome) of a public reply not posted: "retry", "given_up", "unknown", "not_queued".
ReplyFailure = Callable[[str, str], None]


class WriteBackFeed:
    def __init__(self, engine: Engine, writebacks: Mapping[str, WriteBack], *,
                 public: Callable[[str], bool] = lambda _s: False, fence: Fencing = UNFENCED,
                 on_failure: ReplyFailure = lambda _source, _outcome: None) -> None:
        self.engine = engine
        self.fence = fence
        self.writebacks = writebacks
        self.public = public
        self.replies = PublicReplies(engine)
        self.on_failure = on_failure
        self.ack_reply: AckReply | None = None

    def answer_acknowledgements(self, reply: AckReply) -> None:
        """Also post a public reply when an after-hours page is acknowledged (``reply`` words it)."""
        self.ack_reply = reply

    def queue_public_reply(self, source: str, ticket_id: str, decision: Decision, desk_name: str,
                           at: datetime, conn: Connection, template: str = DEFAULT_NOT_COVERED) -> bool:
        """For a customer not entitled to after-hours help (off unless the source allows it):
        queued in the database for the write-back lease holder, once per ticket — in ``conn``'s
        transaction (the deciding batch's: a savepoint, so a failure here is this reply's
        alone). True when queued; False when the source takes no public replies, the
        ticket has its reply, or the database failed (logged and counted: the ticket's paging
        goes on)."""
        if source not in self.writebacks or not self.public(source):
            return False
        text = public_reply_text(decision, desk_name, template, ticket_id)
        try:
            with conn.begin_nested():
                return self.replies.queue(conn, source, ticket_id, NOT_COVERED, text, at)
        except SQLAlchemyError:
            log.exception("writeback.public_reply_not_queued", source=source, ticket_id=ticket_id)
            self.on_failure(source, "not_queued")
            return False

    def _ack_reply(self, row: Any) -> Note | None:
        if self.ack_reply is None or row.kind != "acknowledged":
            return None
        text = self.ack_reply(row.source, row.ticket_id, row.customer, row.paged_at, row.at)
        return None if text is None else public_reply_note(row.source, row.ticket_id, text=text, at=row.at)

    def post_replies(self, now: datetime, batch: int = 200) -> int:
        """Post the queued public replies that are due; returns how many went out. Raises
        :class:`~oncall.errors.LeaseLost` (posting nothing more) when the lease is gone."""
        posted = 0
        for reply in self.replies.due(now, batch):
            if reply.status == SENDING:
                if self.replies.abandon(reply, now, self.fence):
                    log.error("writeback.public_reply_unknown", source=reply.source, ticket_id=reply.ticket_id,
                              attempts=reply.attempts, reason="its poster stopped mid-post; not posted again")
                    self.on_failure(reply.source, "unknown")
                continue
            if not self.replies.claim(reply, now, self.fence):
                continue
            if self._post_reply(reply):
                try:
                    self.replies.posted(reply, now, self.fence)
                except LeaseLost:  # posted, but the row stays "sending": it will read "unknown", never re-sent
                    log.warning("writeback.public_reply_posted_unrecorded", source=reply.source,
                                ticket_id=reply.ticket_id)
                    raise
                posted += 1
                continue
            retry_at = next_reply_attempt(reply.attempts + 1, now)
            self.replies.not_posted(reply, now, retry_at, self.fence)
            if retry_at is None:
                log.error("writeback.public_reply_failed", source=reply.source, ticket_id=reply.ticket_id,
                          attempts=reply.attempts + 1)
            else:
                log.warning("writeback.public_reply_retry", source=reply.source, ticket_id=reply.ticket_id,
                            attempts=reply.attempts + 1, retry_at=retry_at.isoformat())
            self.on_failure(reply.source, "retry" if retry_at else "given_up")
        return posted

    def _post_reply(self, reply: QueuedReply) -> bool:
        wb = self.writebacks.get(reply.source)
        if wb is None:
            log.error("writeback.public_reply_unposted", source=reply.source, ticket_id=reply.ticket_id,
                      reason="the source no longer writes back")
            return False
        try:
            return bool(wb.post(public_reply_note(reply.source, reply.ticket_id, text=reply.text,
                                                  at=reply.queued_at)))
        except Exception:  # a write-back must not raise; if one does, the reply is retried
            log.exception("writeback.error", source=reply.source, ticket_id=reply.ticket_id)
            return False

    def run_once(self, now: datetime, batch: int = 200) -> int:
        posted = self.post_replies(now, batch)
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
