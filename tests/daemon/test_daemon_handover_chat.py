"""The hand-over's digest on a chat channel (``handover.digest: [email, chat]``): each reader with
a chat address gets the whole list there, one line per ticket, as the chat service's post."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from daemon_rig import DESK, NY, PEOPLE, SATURDAY_NIGHT, MakeRig, Rig, write_config

from oncall.interfaces import Channel
from oncall.notify.chat import ChatSettings, ChatTransport
from oncall.testing.fake_chat import FakeChat

MONDAY_OPENING = datetime(2026, 11, 30, 8, 0, tzinfo=NY)
HOURS = '      mon-fri: "08:00-16:00"\n'
CHAT_DESK = DESK.replace(HOURS, HOURS + "    handover: {digest: [email, chat]}\n", 1)
GINA = '    phone: "+12025550145"\n'
GINA_CHAT = PEOPLE.replace(GINA, GINA + "    email: gina@example.com\n    addresses: {chat: gina_dm}\n", 1)


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    with FakeChat() as fake:
        yield fake


def handed_over(make_rig: MakeRig, tmp_path: Path, chat: FakeChat) -> tuple[Rig, ChatSettings]:
    assert (CHAT_DESK, GINA_CHAT) != (DESK, PEOPLE)
    webhooks = {"webhooks": {"gina_dm": {"url": chat.url("/slack/gina"), "kind": "slack"}}}
    rig = make_rig(SATURDAY_NIGHT, config=write_config(tmp_path / "config-chat", desk=CHAT_DESK, people=GINA_CHAT),
                   chat=webhooks, public_url="https://oncall.example.com")
    for n in range(1, 6):
        rig.file(f"T-{n}", priority="normal" if n % 2 else "low")
        rig.clock.advance(timedelta(minutes=1))
    rig.work()
    rig.clock.set(MONDAY_OPENING)
    rig.run("handover")
    return rig, ChatSettings.model_validate(webhooks)


def test_the_digest_goes_to_each_readers_chat_address_with_every_ticket(make_rig: MakeRig, tmp_path: Path,
                                                                        chat: FakeChat) -> None:
    rig, settings = handed_over(make_rig, tmp_path, chat)
    assert [Channel.SMS, Channel.EMAIL, Channel("chat")] == [m.channel for m in rig.to("gina")]
    [message] = rig.to("gina", Channel("chat"))
    assert "gina_dm" == message.to
    transport = ChatTransport(settings, "https://oncall.example.com")
    try:
        transport.send(message)
    finally:
        transport.close()
    [post] = chat.posts("/slack/gina")
    text = post.body["blocks"][0]["text"]["text"]
    assert text.startswith("*\N{INFORMATION SOURCE} oncall east hand-over: 5 tickets waited while closed (opening "
                           "Mon 2026-11-30 08:00 EST)*")
    lines = text.splitlines()[1:]
    assert 5 == len(lines), lines  # one line per ticket, none cut off
    assert "NORMAL generic #T-1 Acme Hosting: Production down — desk closed; rule 'business-hours' does not " \
           "page; no response target" == lines[0]
    assert [f"#T-{n}" for n in (1, 3, 5, 2, 4)] == [line.split()[2] for line in lines]  # most urgent first
    assert "and " not in text.splitlines()[-1]
