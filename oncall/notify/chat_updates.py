"""Updates to the chat rooms a page reached: acknowledged, escalated, resolved or cancelled, by whom,
and an acknowledgement that timed out (``ack_timeout``: the incident is triggered again).

The audit log records every acknowledgement, escalation and resolution, whichever process
made it (the daemon for SMS and calls, the console, the CLI, the API), so the feed reads the
audit log, as the helpdesk write-back does (``oncall/writeback_feed.py``). For each such row it
posts once to every chat address a page for that incident went out to before the row was
written (its ledger row ``sent``), rooms and people's own webhooks alike.

Where it is kept in the cursors table (``chat:updates``, versioned JSON): the last audit row
done and, while one is under way, the rooms it has been posted to — saved after every post, so
a restart resumes where it stopped and posts nothing twice (but a post whose answer a crash
cut off). A room that refuses a post (4xx) is skipped; one that cannot be reached (after the
poster's retries) stops the run and is tried again the next run, for up to
:data:`GIVE_UP_AFTER`; then the update is dropped with an error in the log, so one dead room
cannot hold the others' updates back for ever.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Engine, and_, select

from oncall.errors import DeliveryError, PermanentDeliveryError
from oncall.notify.chat import CHAT, ChatPoster
from oncall.notify.chat_formats import ChatPost, Link, Tone, ack_hint, page_wording
from oncall.notify.messages import PageSummary
from oncall.store.inbox import get_cursor, set_cursor
from oncall.store.tables import audit, incidents, notifications
from oncall.store.types import as_utc

log = structlog.get_logger(__name__)

CURSOR = "chat:updates"
GIVE_UP_AFTER = timedelta(minutes=15)
_VERB = {"acknowledged": "acknowledged", "escalated": "escalated", "resolved": "resolved",
         "cancelled": "cancelled", "ack_timeout": "triggered again"}
_TONE = {"acknowledged": Tone.DONE, "escalated": Tone.ESCALATED, "resolved": Tone.DONE,
         "cancelled": Tone.CLOSED, "ack_timeout": Tone.ESCALATED}
_CALLS_FOR_ACTION = ("escalated", "ack_timeout")  # somebody is being paged again: say how to acknowledge
_PAGED = ("sent", "delivered")


@dataclass
class Progress:
    """The feed's cursor: every audit row up to ``after`` is done; of row ``row`` (if any), the
    rooms in ``posted`` have had their post."""

    after: int = 0
    row: int | None = None
    posted: set[str] = field(default_factory=set)

    def dump(self) -> str:
        data: dict[str, Any] = {"v": 1, "after": self.after}
        if self.row is not None:
            data |= {"row": self.row, "posted": sorted(self.posted)}
        return json.dumps(data)

    @classmethod
    def load(cls, value: str | None) -> Progress:
        if not value:
            return cls()
        data = json.loads(value)
        if data.get("v") != 1:
            raise ValueError(f"cursor {CURSOR}: unknown version {data.get('v')!r}")
        return cls(after=int(data["after"]), row=data.get("row"), posted=set(data.get("posted", ())))


def update_post(row: Any, *, link: str | None, name: str | None) -> ChatPost:
    """The post an audit row of kind acknowledged, escalated, resolved, cancelled or ack_timeout
    makes (pure). A resolution by the ticket (solved or closed in the helpdesk) says so rather than
    naming ``ticket`` as a person; a timed-out acknowledgement says the incident pages again."""
    who = f"{name} ({row.actor})" if name and name != row.actor else row.actor
    reason = [row.reason] if row.reason else []
    if row.kind == "cancelled":
        title = f"Incident #{row.incident_id} closed: {row.reason or 'the ticket no longer needs it'}"
        reason = []
    elif row.kind == "resolved" and row.actor == "ticket":
        title = f"Incident #{row.incident_id} resolved: {row.reason or 'the ticket was solved in the helpdesk'}"
        reason = []
    elif row.kind == "ack_timeout":
        title = f"Incident #{row.incident_id} triggered again: the acknowledgement timed out"
    else:
        title = f"Incident #{row.incident_id} {_VERB[row.kind]} by {who}"
        reason = []
    words = page_wording([PageSummary(code=0, priority=row.priority or "", customer=row.customer or "",
                                      subject=row.subject or "", ticket_id=row.ticket_id)])
    lines = [words, *reason] + ([f"via {row.channel}"] if row.channel and row.kind != "cancelled" else [])
    hint, command = ack_hint([row.incident_id]) if row.kind in _CALLS_FOR_ACTION else ("", "")
    if row.kind == "escalated":
        hint = "The next step is paging now. " + hint
    links = (Link(label=f"Incident #{row.incident_id}", url=link),) if link else ()
    return ChatPost(title=title, tone=_TONE[row.kind], lines=tuple(lines), links=links, hint=hint,
                    command=command)


def _instant(value: object) -> datetime:
    found = as_utc(value)
    if found is None:
        raise ValueError("an audit row without a time")
    return found


class ChatUpdates:
    """``run_once(now)`` posts what the audit log gained since the last run; returns how many
    posts went out."""

    def __init__(self, engine: Engine, poster: ChatPoster, *, link: Callable[[int], str | None],
                 name_of: Callable[[str], str | None] = lambda _person: None, batch: int = 200) -> None:
        self.engine = engine
        self.poster = poster
        self.link = link
        self.name_of = name_of
        self.batch = batch

    def run_once(self, now: datetime) -> int:
        progress = Progress.load(get_cursor(self.engine, CURSOR))
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(audit.c.id, audit.c.incident_id, audit.c.at, audit.c.actor, audit.c.channel,
                       audit.c.kind, audit.c.reason, incidents.c.priority, incidents.c.customer,
                       incidents.c.subject, incidents.c.ticket_id)
                .join(incidents, incidents.c.id == audit.c.incident_id)
                .where(audit.c.id > progress.after).order_by(audit.c.id).limit(self.batch)).all()
            wanted = [r for r in rows if r.kind in _VERB]
            paged = self._paged(conn, {r.incident_id for r in wanted})
        posted = 0
        for row in rows:
            if row.kind in _VERB:
                at = _instant(row.at)
                rooms = [a for a, queued in paged.get(row.incident_id, ()) if queued <= at]
                done, sent = self._post_row(row, rooms, progress, now)
                posted += sent
                if not done:
                    return posted
            progress = Progress(after=row.id)
        if rows:
            set_cursor(self.engine, CURSOR, progress.dump(), now)
        return posted

    def _paged(self, conn: Any, incident_ids: Iterable[int]) -> dict[int, list[tuple[str, datetime]]]:
        """Per incident: each chat address a page went out to, with when it was queued (first)."""
        ids = sorted(incident_ids)
        if not ids:
            return {}
        found: dict[int, dict[str, datetime]] = defaultdict(dict)
        for r in conn.execute(select(notifications.c.incident_id, notifications.c.address,
                                     notifications.c.queued_at).where(and_(
                notifications.c.incident_id.in_(ids), notifications.c.channel == CHAT,
                notifications.c.purpose == "page", notifications.c.status.in_(_PAGED)))):
            queued = as_utc(r.queued_at)
            if queued is None:
                continue
            first = found[r.incident_id].get(r.address)
            found[r.incident_id][r.address] = queued if first is None else min(first, queued)
        return {i: sorted(rooms.items()) for i, rooms in found.items()}

    def _post_row(self, row: Any, rooms: list[str], progress: Progress, now: datetime) -> tuple[bool, int]:
        """Post ``row``'s update to the rooms that have not had it; (whether the row is done, posts)."""
        done = progress.posted if progress.row == row.id else set()
        todo = [room for room in rooms if room not in done]
        if not todo:
            return True, 0
        post = update_post(row, link=self.link(row.incident_id), name=self.name_of(row.actor))
        sent = 0
        for room in todo:
            try:
                self.poster.post(room, post, key=f"update-{row.id}")
                sent += 1
            except PermanentDeliveryError:
                pass  # the poster logged it; the room refuses posts, retrying cannot help
            except DeliveryError as exc:
                if now - _instant(row.at) < GIVE_UP_AFTER:
                    set_cursor(self.engine, CURSOR, Progress(after=progress.after, row=row.id,
                                                             posted=done).dump(), now)
                    return False, sent
                log.error("chat.update_dropped", audit_id=row.id, incident=row.incident_id, error=str(exc))
            done = done | {room}
            set_cursor(self.engine, CURSOR, Progress(after=progress.after, row=row.id, posted=done).dump(), now)
        set_cursor(self.engine, CURSOR, Progress(after=row.id).dump(), now)
        return True, sent
