"""Chat rooms end to end: the real ``oncall run``, the fake Twilio and a fake chat service on
127.0.0.1. A policy step pages the on-call person by SMS and two rooms — one on Slack, one on
Teams — through their webhooks; an acknowledgement through the API is posted to both rooms once,
as later updates are, across a restart; the webhooks' URLs (secrets) never reach the output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_process import API_TOKEN, PHONES, DaemonProcess, assert_nothing_secret_logged, ticket

from oncall.testing.fake_chat import FakeChat, ReceivedPost
from oncall.testing.fake_twilio import FakeTwilio

pytestmark = pytest.mark.e2e

SLACK = "/slack/services/T0E2E/B0E2E/slacksecret42"
TEAMS = "/teams/workflows/e2e/triggers/manual/paths/invoke"
TEAMS_QUERY = "?api-version=2016-06-01&sig=teamssecret42"

ROOMS = """\
plans:
  - id: rooms-24x7
    after_hours: true
customers:
  - {id: roomco, name: Room Co, channel: direct, plan: rooms-24x7}
rules:
  - name: rooms-page
    when: {plan: rooms-24x7, priority: urgent}
    page: true
    escalation_policy: rooms
people:
  - id: support-slack
    name: "#support on Slack"
    timezone: America/New_York
    addresses: {chat: support_slack}
    contact_methods: [chat]
  - id: support-teams
    name: Support on Teams
    timezone: America/New_York
    addresses: {chat: support_teams}
    contact_methods: [chat]
escalation_policies:
  - id: rooms
    steps:
      - targets: [{schedule: emergency}, {person: support-slack}, {person: support-teams}]
        contact: sms
        delay: 10m
"""


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    with FakeChat() as fake:
        yield fake


def act(daemon: DaemonProcess, incident_id: int, action: str, person: str) -> None:
    response = httpx.post(f"{daemon.url}/api/incidents/{incident_id}/{action}", json={"as": person}, timeout=10.0,
                          headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert 200 == response.status_code, response.text


def title(post: ReceivedPost) -> str:
    body: dict[str, Any] = post.body
    if "text" in body:
        return str(body["text"])
    return str(body["attachments"][0]["content"]["fallbackText"])


def titles(chat: FakeChat, path: str) -> list[str]:
    return [title(p) for p in chat.posts(path)]


def test_a_page_reaches_a_slack_and_a_teams_room_and_the_ack_is_posted_to_both_once(
        daemon: DaemonProcess, fake: FakeTwilio, chat: FakeChat, config_dir: Path) -> None:
    (config_dir / "chat.yaml").write_text(ROOMS)
    limits = config_dir / "oncall.yaml"  # a second page to a room within its storm limit would wait
    limits.write_text(limits.read_text().replace("  voice: {min_interval: 1s}\n",
                                                 "  voice: {min_interval: 1s}\n  chat: {min_interval: 1s}\n"))
    daemon.env.update({"ONCALL_CHAT__WEBHOOKS__SUPPORT_SLACK__URL": chat.url(SLACK),
                       "ONCALL_CHAT__WEBHOOKS__SUPPORT_SLACK__KIND": "slack",
                       "ONCALL_CHAT__WEBHOOKS__SUPPORT_TEAMS__URL": chat.url(TEAMS + TEAMS_QUERY),
                       "ONCALL_CHAT__WEBHOOKS__SUPPORT_TEAMS__KIND": "teams",
                       "ONCALL_CHAT__UPDATE_SECONDS": "0.3"})
    daemon.start()
    assert 202 == daemon.post_ticket(ticket("T-300", "roomco")).status_code

    [slack_page] = chat.wait_for_posts(SLACK, 1)
    [teams_page] = chat.wait_for_posts(TEAMS, 1)
    [sms] = fake.wait_for_messages(1)
    [incident] = daemon.incidents()
    page_url = f"{daemon.url}/incidents/{incident['id']}"
    assert "Production down (ticket T-300)" in title(slack_page) and page_url in str(slack_page.body)
    assert f"oncall ack {incident['id']}" in str(slack_page.body)
    card = teams_page.body["attachments"][0]
    assert "application/vnd.microsoft.card.adaptive" == card["contentType"]
    assert page_url == card["content"]["actions"][0]["url"]

    person = next(p for p, phone in PHONES.items() if phone == sms.to)
    act(daemon, incident["id"], "ack", person)
    acked = f"Incident #{incident['id']} acknowledged by"
    chat.wait_for_posts(SLACK, 2)
    chat.wait_for_posts(TEAMS, 2)
    assert acked in titles(chat, SLACK)[1] and acked in titles(chat, TEAMS)[1]

    # Later updates follow, and a restart repeats nothing: the resolution, then a second
    # incident's acknowledgement after the restart, are the next posts in each room.
    act(daemon, incident["id"], "resolve", person)
    chat.wait_for_posts(SLACK, 3)
    chat.wait_for_posts(TEAMS, 3)
    assert 0 == daemon.stop()
    daemon.start()
    assert 202 == daemon.post_ticket(ticket("T-301", "roomco")).status_code
    chat.wait_for_posts(SLACK, 4)
    second = max(i["id"] for i in daemon.incidents())
    act(daemon, second, "ack", person)
    chat.wait_for_posts(SLACK, 5)
    chat.wait_for_posts(TEAMS, 5)
    for path in (SLACK, TEAMS):
        said = titles(chat, path)
        assert 1 == sum(acked in t for t in said), said
        assert [f"Incident #{incident['id']} resolved by", "T-301", f"Incident #{second} acknowledged by"] == \
            [next(w for w in (f"Incident #{incident['id']} resolved by", "T-301",
                              f"Incident #{second} acknowledged by") if w in t) for t in said[2:]]
    assert 0 == daemon.stop()
    assert_nothing_secret_logged(daemon)
    for secret in ("slacksecret42", "teamssecret42"):
        assert secret not in daemon.stderr and secret not in daemon.stdout
