"""The chat update feed: after a page reached chat rooms, each acknowledgement, escalation and
resolution — whoever made it — is posted to every room the incident's page reached before it,
once, across restarts and a room that is down for a while."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from oncall.escalation.directory import Contact
from oncall.escalation.policy import EscalationPolicy, NotificationSettings
from oncall.escalation.runner import Runner
from oncall.incidents.model import TicketSummary
from oncall.incidents.service import IncidentService
from oncall.interfaces import Channel
from oncall.notify.channels import Addresses
from oncall.notify.chat import ChatPoster, ChatSettings, ChatTransport, incident_links
from oncall.notify.chat_updates import CURSOR, GIVE_UP_AFTER, ChatUpdates
from oncall.notify.composite import ChannelRouter
from oncall.notify.retry import NO_WAIT
from oncall.store.inbox import get_cursor
from oncall.testing.fake_chat import FakeChat
from oncall.testing.paging import FakeDirectory, RecordingTransport, person

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
SLACK, TEAMS, LATE = "/slack/ops", "/teams/ops", "/slack/late"
PUBLIC = "https://oncall.example.com"


def room(pid: str, webhook: str) -> Contact:
    return Contact(person_id=pid, addresses=Addresses({"chat": webhook}), methods=(Channel("chat"),))


@dataclass
class World:
    chat: FakeChat
    service: IncidentService
    runner: Runner
    feed: ChatUpdates
    poster: ChatPoster

    def updates(self, path: str) -> list[str]:
        """The titles of the update posts (not the page) a room received, in order."""
        return [p.body["text"] if "text" in p.body else p.body["attachments"][0]["content"]["fallbackText"]
                for p in self.chat.posts(path)][1:]

    def restarted(self) -> ChatUpdates:
        return ChatUpdates(self.feed.engine, self.poster, link=self.feed.link, name_of=self.feed.name_of)


@pytest.fixture
def world(db: Engine) -> Iterator[World]:
    """Step 1 pages erin by SMS and two rooms (Slack, Teams); step 2, ten minutes later, a third."""
    with FakeChat() as chat:
        settings = ChatSettings.model_validate({"webhooks": {
            "slack_ops": {"url": chat.url(SLACK), "kind": "slack"},
            "teams_ops": {"url": chat.url(TEAMS), "kind": "teams"},
            "late": {"url": chat.url(LATE), "kind": "slack"}}})
        poster = ChatPoster(settings, retry=NO_WAIT)
        policy = EscalationPolicy.model_validate({"id": "rooms", "steps": [
            {"targets": [{"person": "erin"}, {"person": "slack-room"}, {"person": "teams-room"}], "delay": "10m"},
            {"targets": [{"person": "late-room"}], "delay": "10m"}]})
        directory = FakeDirectory(contacts={
            "erin": person("erin", Channel.SMS), "frank": person("frank"),
            "slack-room": room("slack-room", "slack_ops"), "teams-room": room("teams-room", "teams_ops"),
            "late-room": room("late-room", "late")},
            policies={"rooms": policy})
        transport = ChannelRouter({Channel.SMS: RecordingTransport(),
                                   Channel("chat"): ChatTransport(settings, PUBLIC, poster=poster)})
        service = IncidentService(db, lambda: directory)
        runner = Runner(db, transport, lambda: directory, lambda: NotificationSettings())
        names = {"erin": "Erin Evans"}
        feed = ChatUpdates(db, poster, link=incident_links(PUBLIC), name_of=names.get)
        yield World(chat=chat, service=service, runner=runner, feed=feed, poster=poster)
        poster.close()


def paged(world: World, ticket: str = "T-1") -> int:
    incident = world.service.open_or_update(TicketSummary(
        source="generic", ticket_id=ticket, priority="urgent", customer="acme", subject="Production down"),
        "rooms", T0)
    world.runner.run_due(T0)
    return incident.id


def test_an_acknowledgement_is_posted_to_every_room_the_page_reached_once(world: World) -> None:
    incident = paged(world)
    assert (1, 1) == (len(world.chat.posts(SLACK)), len(world.chat.posts(TEAMS)))  # the page itself
    world.service.ack(incident, "erin", T0 + MIN, via="sms")
    assert 2 == world.feed.run_once(T0 + 2 * MIN)
    assert [f"\N{WHITE HEAVY CHECK MARK} Incident #{incident} acknowledged by Erin Evans (erin)"] == \
        world.updates(SLACK)
    [card] = world.chat.posts(TEAMS)[1].body["attachments"]
    assert f"Incident #{incident} acknowledged by Erin Evans (erin)" == card["content"]["fallbackText"]
    assert f"{PUBLIC}/incidents/{incident}" == card["content"]["actions"][0]["url"]
    assert 0 == world.feed.run_once(T0 + 3 * MIN)
    assert 0 == world.restarted().run_once(T0 + 4 * MIN)  # the cursor is in the database
    assert (2, 2, []) == (len(world.chat.posts(SLACK)), len(world.chat.posts(TEAMS)), world.chat.posts(LATE))


def test_escalation_and_resolution_follow_and_a_room_paged_later_hears_only_what_came_after(
        world: World) -> None:
    incident = paged(world)
    world.service.escalate(incident, "frank", T0 + MIN, via="web")
    world.runner.run_due(T0 + MIN + MIN / 2)  # step 2 pages the late room
    world.service.resolve(incident, "erin", T0 + 2 * MIN, via="cli")
    world.feed.run_once(T0 + 3 * MIN)
    assert [f"\N{UPWARDS BLACK ARROW} Incident #{incident} escalated by frank",
            f"\N{WHITE HEAVY CHECK MARK} Incident #{incident} resolved by Erin Evans (erin)"] == world.updates(SLACK)
    assert [f"\N{WHITE HEAVY CHECK MARK} Incident #{incident} resolved by Erin Evans (erin)"] == \
        world.updates(LATE)


def test_a_room_the_page_did_not_reach_hears_nothing(world: World) -> None:
    world.chat.fail_next(1, status=404, path=TEAMS)  # the Teams page is refused
    incident = paged(world)
    world.service.ack(incident, "erin", T0 + MIN)
    assert 1 == world.feed.run_once(T0 + 2 * MIN)
    assert (1, []) == (len(world.updates(SLACK)), world.updates(TEAMS))


def test_a_room_that_is_down_is_tried_again_next_run_without_repeating_the_others(world: World) -> None:
    incident = paged(world)
    world.service.ack(incident, "erin", T0 + MIN)
    world.chat.fail_next(3, status=503, path=TEAMS)  # every retry of this run
    assert 1 == world.feed.run_once(T0 + 2 * MIN)
    assert (1, 0) == (len(world.updates(SLACK)), len(world.updates(TEAMS)))
    assert 1 == world.restarted().run_once(T0 + 3 * MIN)
    assert (1, 1) == (len(world.updates(SLACK)), len(world.updates(TEAMS)))
    assert 0 == world.feed.run_once(T0 + 4 * MIN)


def test_an_update_a_room_cannot_take_for_long_is_dropped_so_later_ones_flow(world: World) -> None:
    incident = paged(world)
    world.service.ack(incident, "erin", T0 + MIN)
    world.chat.fail_next(3, status=503, path=TEAMS)
    world.feed.run_once(T0 + MIN + GIVE_UP_AFTER + MIN)
    world.service.resolve(incident, "erin", T0 + GIVE_UP_AFTER + 3 * MIN)
    world.feed.run_once(T0 + GIVE_UP_AFTER + 4 * MIN)
    assert [f"Incident #{incident} resolved by Erin Evans (erin)"] == world.updates(TEAMS)
    assert 2 == len(world.updates(SLACK))


def test_the_cursor_is_versioned_json(world: World) -> None:
    paged(world)
    world.feed.run_once(T0 + MIN)
    value = get_cursor(world.feed.engine, CURSOR)
    assert value is not None and value.startswith('{"v": 1, "after": ')
