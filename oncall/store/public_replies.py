"""Public replies waiting to be posted on their tickets, in the ``public_replies`` table.

Any instance's engine duty may decide that a ticket deserves a public reply; only the holder of
the ``writeback`` lease posts. The table is the hand-over between them, so a reply queued on
one instance (or in a process that then dies) is posted by whichever instance holds the lease:

- :meth:`PublicReplies.queue` adds a row ``queued`` — at most one per (source, ticket, kind):
  a ticket decided again (an update, a batch taken up again after a crash) is not answered twice;
- the lease holder :meth:`~PublicReplies.claim`\\ s it (``sending``, one more attempt) under its
  fence before posting, then records the outcome under its fence: ``posted``; or, after a failed
  post, ``queued`` again with a ``next_attempt_at``, or ``failed`` once the attempts are used up;
- a row left ``sending`` past :data:`STALE_SENDING` (its poster died or froze mid-post: the post
  may have gone out) becomes ``unknown`` and is never posted again: a customer gets a reply at
  most once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from oncall.store.leases import UNFENCED, Fencing
from oncall.store.tables import public_replies

QUEUED, SENDING, POSTED, FAILED, UNKNOWN = "queued", "sending", "posted", "failed", "unknown"
STALE_SENDING = timedelta(minutes=5)
"""Far past one post's own retries and time-outs: a row still ``sending`` then was abandoned."""


@dataclass(frozen=True, kw_only=True)
class QueuedReply:
    id: int
    source: str
    ticket_id: str
    kind: str
    text: str
    attempts: int
    queued_at: datetime
    status: str


class PublicReplies:
    """The queue of public replies. Every method raises ``SQLAlchemyError`` when the database
    fails; the fenced ones raise :class:`~oncall.errors.LeaseLost`, writing nothing."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = postgresql if engine.dialect.name == "postgresql" else sqlite

    def queue(self, conn: Connection, source: str, ticket_id: str, kind: str, text: str, at: datetime) -> bool:
        """Queue a reply in ``conn``'s transaction; False when this ticket has had (or awaits)
        its reply of ``kind``."""
        statement = self._dialect.insert(public_replies).values(
            source=source, ticket_id=ticket_id, kind=kind, text=text, status=QUEUED, attempts=0,
            queued_at=at, updated_at=at,
        ).on_conflict_do_nothing(index_elements=["source", "ticket_id", "kind"]).returning(public_replies.c.id)
        return conn.execute(statement).first() is not None

    def due(self, now: datetime, limit: int) -> list[QueuedReply]:
        """Oldest first: queued replies whose (next) attempt is due at ``now``, and replies left
        ``sending`` since before ``now - STALE_SENDING`` (for :meth:`abandon`)."""
        t = public_replies.c
        queued = (t.status == QUEUED) & (t.next_attempt_at.is_(None) | (t.next_attempt_at <= now))
        stale = (t.status == SENDING) & (t.updated_at < now - STALE_SENDING)
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.id, t.source, t.ticket_id, t.kind, t.text, t.attempts, t.queued_at,
                                       t.status).where(queued | stale).order_by(t.id).limit(limit)).all()
        return [QueuedReply(id=r.id, source=r.source, ticket_id=r.ticket_id, kind=r.kind, text=r.text,
                            attempts=int(r.attempts), queued_at=r.queued_at, status=r.status) for r in rows]

    def claim(self, reply: QueuedReply, now: datetime, fence: Fencing = UNFENCED) -> bool:
        """``queued`` → ``sending`` with one more attempt, while ``fence`` holds; False when it is
        not queued any more. Done before the post, which cannot be undone."""
        return self._move(reply.id, QUEUED, now, fence, status=SENDING, attempts=reply.attempts + 1)

    def posted(self, reply: QueuedReply, now: datetime, fence: Fencing = UNFENCED) -> bool:
        return self._move(reply.id, SENDING, now, fence, status=POSTED, posted_at=now)

    def not_posted(self, reply: QueuedReply, now: datetime, retry_at: datetime | None,
                   fence: Fencing = UNFENCED) -> bool:
        """After a failed post: queued again for ``retry_at``, or ``failed`` when it is None."""
        if retry_at is None:
            return self._move(reply.id, SENDING, now, fence, status=FAILED)
        return self._move(reply.id, SENDING, now, fence, status=QUEUED, next_attempt_at=retry_at)

    def abandon(self, reply: QueuedReply, now: datetime, fence: Fencing = UNFENCED) -> bool:
        """A reply left ``sending`` (its poster died mid-post): ``unknown``, never posted again."""
        return self._move(reply.id, SENDING, now, fence, status=UNKNOWN)

    def _move(self, reply_id: int, was: str, now: datetime, fence: Fencing, **values: object) -> bool:
        t = public_replies.c
        fence.ready()
        with self.engine.begin() as conn:
            fence.hold(conn)
            done = conn.execute(update(public_replies).where(t.id == reply_id, t.status == was)
                                .values(updated_at=now, **values).returning(t.id)).first()
        return done is not None
