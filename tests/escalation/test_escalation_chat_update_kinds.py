"""The chat rooms a page reached hear when an acknowledgement timed out (the incident pages
again) and when the helpdesk solved the ticket (resolved by the ticket, said as such)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

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
from oncall.notify.chat_formats import Tone
from oncall.notify.chat_updates import ChatUpdates, update_post
from oncall.notify.composite import ChannelRouter
from oncall.notify.retry import NO_WAIT
from oncall.testing.fake_chat import FakeChat
from oncall.testing.paging import FakeDirectory, RecordingTransport, person

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
SLACK = "/slack/ops"
PUBLIC = "https://oncall.example.com"


@dataclass
class World:
    chat: FakeChat
    service: IncidentService
    runner: Runner
    feed: ChatUpdates

    def updates(self) -> list[dict[str, Any]]:
        """The update posts (not the page) the room received, in order."""
        return [p.body for p in self.chat.posts(SLACK)][1:]


@pytest.fixture
def world(db: Engine) -> Iterator[World]:
    """One step pages erin by SMS and a Slack room; an acknowledgement lasts 30 minutes."""
    with FakeChat() as chat:
        settings = ChatSettings.model_validate({"webhooks": {"ops": {"url": chat.url(SLACK), "kind": "slack"}}})
        poster = ChatPoster(settings, retry=NO_WAIT)
        policy = EscalationPolicy.model_validate({"id": "rooms", "ack_timeout": "30m", "steps": [
            {"targets": [{"person": "erin"}, {"person": "room"}], "delay": "10m"}]})
        directory = FakeDirectory(contacts={
            "erin": person("erin", Channel.SMS),
            "room": Contact(person_id="room", addresses=Addresses({"chat": "ops"}), methods=(Channel("chat"),))},
            policies={"rooms": policy})
        transport = ChannelRouter({Channel.SMS: RecordingTransport(),
                                   Channel("chat"): ChatTransport(settings, PUBLIC, poster=poster)})
        service = IncidentService(db, lambda: directory)
        runner = Runner(db, transport, lambda: directory, lambda: NotificationSettings())
        feed = ChatUpdates(db, poster, link=incident_links(PUBLIC), name_of={"erin": "Erin Evans"}.get)
        yield World(chat=chat, service=service, runner=runner, feed=feed)
        poster.close()


def paged(world: World) -> int:
    incident = world.service.open_or_update(TicketSummary(
        source="zendesk", ticket_id="T-1", priority="urgent", customer="acme", subject="Production down"),
        "rooms", T0)
    world.runner.run_due(T0)
    assert 1 == len(world.chat.posts(SLACK))  # the page itself
    return incident.id


def test_an_acknowledgement_that_timed_out_is_posted_as_triggered_again(world: World) -> None:
    incident = paged(world)
    world.service.ack(incident, "erin", T0 + MIN, via="sms")
    world.runner.run_due(T0 + 31 * MIN)  # the acknowledgement ran out: triggered again
    assert "triggered" == world.service.get(incident).state.value
    world.feed.run_once(T0 + 32 * MIN)
    acked, again = world.updates()
    assert f"Incident #{incident} acknowledged by Erin Evans (erin)" in acked["text"]
    assert f"\N{UPWARDS BLACK ARROW} Incident #{incident} triggered again: the acknowledgement timed out" \
        == again["text"]
    body = str(again["blocks"])
    assert "neither resolved nor the ticket solved within 30m" in body and f"oncall ack {incident}" in body


def test_a_ticket_solved_in_the_helpdesk_is_posted_as_resolved_by_the_helpdesk(world: World) -> None:
    incident = paged(world)
    world.service.cancel_for_ticket("zendesk", "T-1", "ticket solved in the helpdesk", T0 + MIN, solved=True)
    world.feed.run_once(T0 + 2 * MIN)
    [post] = world.updates()
    assert f"\N{WHITE HEAVY CHECK MARK} Incident #{incident} resolved: ticket solved in the helpdesk" == post["text"]
    assert "via zendesk" in str(post["blocks"])


def test_the_ack_timeout_post_says_how_to_acknowledge() -> None:
    row = SimpleNamespace(id=41, incident_id=12, at=T0, actor="oncall", channel=None, kind="ack_timeout",
                          reason="acknowledged by erin but neither resolved nor the ticket solved within 30m: "
                                 "triggered again, paging erin first",
                          priority="urgent", customer="acme", subject="Production down", ticket_id="T-1001")
    post = update_post(row, link=f"{PUBLIC}/incidents/12", name=None)
    assert (Tone.ESCALATED, "oncall ack 12") == (post.tone, post.command)
    assert ("URGENT acme: Production down (ticket T-1001)", row.reason) == post.lines
