"""The chat-update duty: "acknowledged by", "escalated by", "resolved by" posted to every chat
room a page reached, from the audit log (:mod:`oncall.notify.chat_updates`). Present when some
chat webhook is configured; every ``ONCALL_CHAT__UPDATE_SECONDS`` (5).

A singleton under the ``chat-updates`` lease, writing under its fence: each post to a room
(which cannot be undone) is preceded by :meth:`~oncall.store.leases.Fence.check`, and every
transaction the feed begins — its cursor's writes — holds the fence (``ready`` before it,
``hold`` inside), so an instance woken from a freeze after another took the lease posts and
writes nothing (:class:`~oncall.errors.LeaseLost`). The feed is given a fenced view of its
engine and poster rather than a fence of its own, so it stays the same for a single process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Engine

from oncall.daemon.duties.base import DutyReport, Pacing
from oncall.interfaces import SendResult
from oncall.notify.chat import ChatPoster, incident_links
from oncall.notify.chat_formats import ChatPost
from oncall.notify.chat_updates import ChatUpdates
from oncall.store.leases import UNFENCED, Fencing

if TYPE_CHECKING:
    from oncall.daemon.wiring import Daemon


class FencedEngine:
    """An engine whose transactions (``begin``) hold the fence; reads (``connect``) pass through."""

    def __init__(self, engine: Engine, fence: Callable[[], Fencing]) -> None:
        self.engine = engine
        self.fence = fence

    def connect(self) -> Connection:
        return self.engine.connect()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """Raises :class:`~oncall.errors.LeaseLost` (rolled back) when the lease is not ours."""
        fence = self.fence()
        fence.ready()
        with self.engine.begin() as conn:
            fence.hold(conn)
            yield conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


class FencedPoster:
    """A chat poster that checks the fence before each post. Raises what
    :meth:`ChatPoster.post` raises, and :class:`~oncall.errors.LeaseLost` (nothing posted)."""

    def __init__(self, poster: ChatPoster, fence: Callable[[], Fencing]) -> None:
        self.poster = poster
        self.fence = fence

    def post(self, name: str, post: ChatPost, *, key: str) -> SendResult:
        self.fence().check()
        return self.poster.post(name, post, key=key)


class ChatUpdateDuty:
    name = "chat-updates"
    pacing = Pacing.INTERVAL
    at_start = True  # what was acknowledged while the daemon was down goes out at once
    singleton = True
    fence: Fencing = UNFENCED  # the lease keeper's, when it runs the duty

    def __init__(self, engine: Engine, poster: ChatPoster, *, interval: timedelta,
                 link: Callable[[int], str | None], name_of: Callable[[str], str | None]) -> None:
        self.interval = interval
        self.feed = ChatUpdates(cast(Engine, FencedEngine(engine, lambda: self.fence)),
                                cast(ChatPoster, FencedPoster(poster, lambda: self.fence)),
                                link=link, name_of=name_of)

    def run_once(self, now: datetime) -> DutyReport:
        """Raises :class:`~oncall.errors.LeaseLost` when the lease is lost midway."""
        return DutyReport(done=self.feed.run_once(now))


def chat_update_duties(d: Daemon) -> list[ChatUpdateDuty]:
    """The duty, when the settings name some chat webhook; none otherwise."""
    chat = d.settings.chat
    if not chat.configured:
        return []

    def name_of(person_id: str) -> str | None:
        person = d.snapshot.people.get(person_id)
        return person.name if person is not None else None

    return [ChatUpdateDuty(d.engine, ChatPoster(chat, client=d.http), interval=timedelta(seconds=chat.update_seconds),
                           link=incident_links(d.settings.public_url), name_of=name_of)]
