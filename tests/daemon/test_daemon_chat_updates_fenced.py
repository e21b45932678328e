"""The chat-update duty writes and posts only under its lease: an instance whose
``chat-updates`` lease another instance holds (taken over while it was frozen, or never its own)
posts nothing to the rooms and moves no cursor; the holder posts each update once.

Two daemons over one database: an SQLite file (where a lease is always granted, so the second
daemon taking it is a takeover) or a scratch PostgreSQL database (where the other holds it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_rig import DESK, MakeRig, Rig, write_config
from test_daemon_chat import ROOM

from oncall.errors import LeaseLost
from oncall.interfaces import Channel
from oncall.notify.chat_updates import CURSOR
from oncall.store.inbox import get_cursor
from oncall.testing.fake_chat import FakeChat

DUTY = "chat-updates"


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    """Asked for first, so it stops after the daemons' HTTP clients are closed."""
    with FakeChat() as fake:
        yield fake


def instances(make_rig: MakeRig, url: str, chat: FakeChat, config: Path) -> tuple[Rig, Rig]:
    """(the instance without the lease, the one holding it)."""
    settings = {"database_url": url, "config": config, "public_url": "https://oncall.example.com",
                "chat": {"webhooks": {"support": {"url": chat.url("/slack/support"), "kind": "slack"}}}}
    stale, holder = make_rig(**settings), make_rig(**settings)
    if stale.daemon.keeper.store.shared:  # PostgreSQL: the holder has it, the other cannot take it
        assert holder.daemon.keeper.ensure(DUTY)
        assert not stale.daemon.keeper.ensure(DUTY)
    else:  # SQLite: held by one, then taken over by the other (token 1, then 2)
        assert stale.daemon.keeper.ensure(DUTY)
        assert holder.daemon.keeper.ensure(DUTY)
    return stale, holder


def paged(make_rig: MakeRig, url: str, chat: FakeChat, tmp_path: Path) -> tuple[Rig, Rig, int]:
    """A page reached the support room (the page itself went through the recording transport)."""
    stale, holder = instances(make_rig, url, chat, write_config(tmp_path / "rooms", desk=DESK, people=ROOM))
    stale.file()
    stale.work()
    [page] = stale.to("support-room", Channel("chat"))
    [incident] = page.incident_ids
    return stale, holder, incident


def test_an_instance_without_the_lease_moves_no_cursor(chat: FakeChat, database_url: str, make_rig: MakeRig,
                                                       tmp_path: Path) -> None:
    stale, _holder, _incident = paged(make_rig, database_url, chat, tmp_path)
    with pytest.raises(LeaseLost):  # the page's own audit rows need no post, only a cursor write: refused
        stale.run(DUTY)
    assert get_cursor(stale.daemon.engine, CURSOR) is None


def test_an_instance_without_the_lease_posts_nothing_and_the_holder_posts_once(
        chat: FakeChat, database_url: str, make_rig: MakeRig, tmp_path: Path) -> None:
    stale, holder, incident = paged(make_rig, database_url, chat, tmp_path)
    stale.daemon.service.ack(incident, stale.on_call(), stale.clock.now(), via="sms")
    with pytest.raises(LeaseLost):  # an acknowledgement to post: refused before the post
        stale.run(DUTY)
    assert ([], None) == (chat.posts("/slack/support"), get_cursor(stale.daemon.engine, CURSOR))
    assert 1 == holder.run(DUTY).done
    assert 0 == holder.run(DUTY).done
    [post] = chat.posts("/slack/support")
    assert f"Incident #{incident} acknowledged by" in post.body["text"]
