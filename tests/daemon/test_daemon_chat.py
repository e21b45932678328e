"""The chat channel in the daemon: the chat-update duty is there when a chat webhook is
configured, and run once it posts what the audit log gained to the rooms the page reached (the
page itself went through the rig's recording transport); an admin's warnings may go by chat."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from daemon_rig import DESK, PEOPLE, MakeRig, write_config

from oncall.interfaces import Channel
from oncall.testing.fake_chat import FakeChat

ROOM = PEOPLE.replace("schedules:", """\
  - id: support-room
    name: "#support"
    timezone: America/New_York
    addresses: {chat: support}
    contact_methods: [chat]
schedules:""", 1).replace("      - targets: [{schedule: emergency}]\n        contact: sms\n",
                           "      - targets: [{schedule: emergency}, {person: support-room}]\n"
                           "        contact: sms\n", 1)


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    with FakeChat() as fake:
        yield fake


def test_no_webhook_no_duty(make_rig: MakeRig) -> None:
    assert "chat-updates" not in [duty.name for duty in make_rig().daemon.duties.duties]


def test_the_duty_posts_an_acknowledgement_to_the_room_the_page_reached(make_rig: MakeRig, tmp_path: Path,
                                                                       chat: FakeChat) -> None:
    assert ROOM != PEOPLE
    rig = make_rig(config=write_config(tmp_path / "rooms", desk=DESK, people=ROOM),
                   public_url="https://oncall.example.com",
                   chat={"webhooks": {"support": {"url": chat.url("/slack/support"), "kind": "slack"}},
                         "update_seconds": 2})
    duty = rig.daemon.duty("chat-updates")
    assert (timedelta(seconds=2), True) == (duty.interval, duty.singleton)
    rig.file()
    rig.work()
    [page] = rig.to("support-room", Channel("chat"))
    assert "support" == page.to and "Production down" in page.text
    [incident] = page.incident_ids
    rig.daemon.service.ack(incident, rig.on_call(), rig.clock.now(), via="sms")
    assert 1 == rig.run("chat-updates").done
    [post] = chat.posts("/slack/support")
    assert f"Incident #{incident} acknowledged by" in post.body["text"]
    assert f"https://oncall.example.com/incidents/{incident}" in str(post.body)
    assert 0 == rig.run("chat-updates").done


def test_an_admin_told_of_warnings_by_chat_gets_a_post_not_a_call(make_rig: MakeRig, tmp_path: Path) -> None:
    gina = '    phone: "+12025550145"\n'
    people = PEOPLE.replace(gina, gina + "    addresses: {chat: ops}\n", 1) \
        .replace("  admins: [gina]\n", "  admins: [gina]\n  admin_alerts: {gina: {warning: [chat, sms]}}\n")
    rig = make_rig(config=write_config(tmp_path / "admins", desk=DESK, people=people))
    assert 1 == rig.daemon.alerts.alert("reload:1", "the configuration edit was refused", rig.clock.now())
    [told] = rig.to("gina")
    assert (Channel("chat"), "ops") == (told.channel, told.to)
    assert "the configuration edit was refused" in told.text
