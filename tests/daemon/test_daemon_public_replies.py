"""Public replies with several instances: the "desk opens at …" reply is queued in the database
by whichever instance's engine decided the ticket and posted by the instance holding the
``writeback`` lease — once, even when the deciding instance dies before anything was posted.

Each "instance" is a daemon built over one database (an SQLite file, or a scratch PostgreSQL
database), with its own instance id and clock; the helpdesk's callback URL is answered by a
recording fake transport."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from daemon_rig import MakeRig, Rig

from oncall.errors import LeaseLost

CALLBACK = "http://helpdesk.test/oncall-notes"


class Helpdesk:
    """The callback URL's side: every note posted to it, in order."""

    def __init__(self) -> None:
        self.notes: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.notes.append(json.loads(request.content))
        return httpx.Response(200)

    def public(self) -> list[tuple[str, str]]:
        return [(n["ticket_id"], n["text"]) for n in self.notes if n["public"]]


@pytest.fixture
def helpdesk() -> Helpdesk:
    return Helpdesk()


def instance(make_rig: MakeRig, url: str, helpdesk: Helpdesk) -> Rig:
    return make_rig(database_url=url, http=httpx.Client(transport=httpx.MockTransport(helpdesk.handle)),
                    sources={"generic": {"secret": "s3cret", "write_back": True, "public_replies": True,
                                         "callback_url": CALLBACK}})


def decide_uncovered(rig: Rig, ticket_id: str = "T-9") -> None:
    """A ticket at night from a customer without after-hours cover: no page, a public reply."""
    assert rig.file(ticket_id, customer="resold")
    rig.work()


def test_a_reply_decided_on_one_instance_is_posted_once_by_the_lease_holder(
        database_url: str, make_rig: MakeRig, helpdesk: Helpdesk) -> None:
    holder, decider = instance(make_rig, database_url, helpdesk), instance(make_rig, database_url, helpdesk)
    assert holder.daemon.keeper.may_run(holder.daemon.duty("writeback"))  # the runner's guard takes the lease
    decide_uncovered(decider)
    if decider.daemon.keeper.store.shared:  # PostgreSQL: the lease is the holder's, the decider posts nothing
        assert not decider.daemon.keeper.may_run(decider.daemon.duty("writeback"))
        with pytest.raises(LeaseLost):
            decider.run("writeback")
    assert [] == helpdesk.public()
    assert 1 == holder.run("writeback").done
    [(ticket, text)] = helpdesk.public()
    assert "T-9" == ticket and "desk" in text
    holder.run("writeback")
    assert 1 == len(helpdesk.public())


def test_a_reply_queued_by_an_instance_that_then_died_is_still_posted_once(
        database_url: str, make_rig: MakeRig, helpdesk: Helpdesk) -> None:
    decider = instance(make_rig, database_url, helpdesk)
    decide_uncovered(decider)
    decider.daemon.engine.dispose()  # killed before its write-back ran: nothing of it is left but the database
    survivor = instance(make_rig, database_url, helpdesk)
    survivor.run("writeback")
    survivor.run("writeback")
    assert ["T-9"] == [ticket for ticket, _text in helpdesk.public()]


def test_a_ticket_decided_again_is_answered_once(database_url: str, make_rig: MakeRig, helpdesk: Helpdesk) -> None:
    rig = instance(make_rig, database_url, helpdesk)
    decide_uncovered(rig)
    rig.clock.advance(timedelta(minutes=5))
    assert rig.file("T-9", customer="resold", priority="high", updated=rig.clock.now())  # decided again
    rig.work()
    rig.run("writeback")
    assert ["T-9"] == [ticket for ticket, _text in helpdesk.public()]


class Crash(BaseException):
    """The deciding worker dying: nothing after it runs."""


def test_a_reply_is_queued_with_its_batch_before_a_worker_dying_right_after_it(
        database_url: str, make_rig: MakeRig, helpdesk: Helpdesk) -> None:
    """Queued before the batch's events count as processed (in its transaction on PostgreSQL):
    a worker dying as the batch ends leaves the reply queued, never a decided ticket unanswered."""
    decider = instance(make_rig, database_url, helpdesk)

    def die(_outcome: object) -> None:
        raise Crash

    decider.daemon.intake.on_outcome = die  # what runs after the batch's commit
    with pytest.raises(Crash):
        decide_uncovered(decider)
    holder = instance(make_rig, database_url, helpdesk)
    assert 1 == holder.run("writeback").done
    [(ticket, text)] = helpdesk.public()
    assert "T-9" == ticket and "opens" in text
