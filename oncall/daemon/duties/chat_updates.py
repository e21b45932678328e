"""The chat-update duty: "acknowledged by", "escalated by", "resolved by" posted to every chat
room a page reached, from the audit log (:mod:`oncall.notify.chat_updates`). Present when some
chat webhook is configured; every ``ONCALL_CHAT__UPDATE_SECONDS`` (5)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from oncall.daemon.duties.base import DutyReport, Pacing
from oncall.notify.chat import ChatPoster, incident_links
from oncall.notify.chat_updates import ChatUpdates

if TYPE_CHECKING:
    from oncall.daemon.wiring import Daemon


class ChatUpdateDuty:
    name = "chat-updates"
    pacing = Pacing.INTERVAL
    at_start = True  # what was acknowledged while the daemon was down goes out at once
    singleton = True

    def __init__(self, feed: ChatUpdates, *, interval: timedelta) -> None:
        self.feed = feed
        self.interval = interval

    def run_once(self, now: datetime) -> DutyReport:
        return DutyReport(done=self.feed.run_once(now))


def chat_update_duties(d: Daemon) -> list[ChatUpdateDuty]:
    """The duty, when the settings name some chat webhook; none otherwise."""
    chat = d.settings.chat
    if not chat.configured:
        return []

    def name_of(person_id: str) -> str | None:
        person = d.snapshot.people.get(person_id)
        return person.name if person is not None else None

    feed = ChatUpdates(d.engine, ChatPoster(chat, client=d.http), link=incident_links(d.settings.public_url),
                       name_of=name_of)
    return [ChatUpdateDuty(feed, interval=timedelta(seconds=chat.update_seconds))]
