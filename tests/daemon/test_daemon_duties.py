"""The daemon's duties: which a configuration gives, and each run once, now, on the rig's
fake clock (hand-offs, silence and self-check are run once in test_daemon_reload,
test_daemon_http and test_daemon_admin_alerts)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from daemon_rig import PEOPLE, MakeRig, Rig, write_config

from oncall.interfaces import Channel
from oncall.schedules.stored_overrides import StoredOverrides
from oncall.testing.fake_helpdesks import FakeZendesk
from oncall.testing.helpdesk_payloads import zendesk_api_ticket

SECRET = "zd-signing-secret"
BY_TAG = "sources:\n  - id: zendesk\n    customer_from: [organization_tag:cust_]\n"  # the ticket's tag cust_acme


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with FakeZendesk() as fake:
        fake.add_user(601, "ops@acme.example")
        yield fake


def polling(fake: FakeZendesk, **more: object) -> dict[str, object]:
    return {"zendesk": {"secret": SECRET, "base_url": fake.url, "email": fake.email, "api_token": fake.api_token,
                        "poll_interval": "1m", **more}}


def zendesk_rig(make_rig: MakeRig, tmp_path: Path, fake: FakeZendesk, **more: object) -> Rig:
    config = write_config(tmp_path / "config-zendesk")
    (config / "sources.yaml").write_text(BY_TAG)
    return make_rig(config=config, sources=polling(fake, **more))


def names(rig: Rig) -> list[str]:
    return [duty.name for duty in rig.daemon.duties.duties]


def test_a_zendesk_poller_makes_these_duties(make_rig: MakeRig, zendesk: FakeZendesk) -> None:
    rig = make_rig(sources=polling(zendesk))
    assert ["engine", "poll:zendesk", "handoffs", "handover", "response-clocks", "reload",
            "selfcheck"] == names(rig)


def test_write_back_silence_alarm_and_dead_man_url_add_their_duties(make_rig: MakeRig,
                                                                    zendesk: FakeZendesk) -> None:
    rig = make_rig(sources=polling(zendesk, write_back=True, silence_after="30m"),
                   deadman_url="https://deadman.example/ping")
    assert ["engine", "poll:zendesk", "writeback", "handoffs", "handover", "response-clocks", "silence",
            "deadman", "reload", "selfcheck"] == names(rig)


def test_intervals_come_from_the_settings(make_rig: MakeRig, zendesk: FakeZendesk) -> None:
    rig = make_rig(sources=polling(zendesk, write_back=True), engine_tick_seconds=3, writeback_seconds=7,
                   handoff_check_seconds=90, reload_check_seconds=2, selfcheck_seconds=30,
                   handover_check_seconds=45, response_clock_seconds=40)
    assert {"engine": 3, "poll:zendesk": 60, "writeback": 7, "handoffs": 90, "handover": 45,
            "response-clocks": 40, "reload": 2, "selfcheck": 30} == {
        d.name: d.interval.total_seconds() for d in rig.daemon.duties.duties}


def test_only_the_engine_reload_and_selfcheck_run_on_every_instance(make_rig: MakeRig,
                                                                    zendesk: FakeZendesk) -> None:
    rig = make_rig(sources=polling(zendesk, write_back=True, silence_after="30m"),
                   deadman_url="https://deadman.example/ping")
    assert ["engine", "reload", "selfcheck"] == [d.name for d in rig.daemon.duties.duties if not d.singleton]


def test_engine_duty_pages_and_asks_to_be_woken_at_the_next_step(rig: Rig) -> None:
    rig.file("T-1")
    report = rig.run("engine")
    [page] = rig.to(rig.on_call())
    assert Channel.SMS is page.channel
    assert (2, rig.clock.now() + timedelta(minutes=5)) == (report.done, report.next_at)  # one ticket, one step
    assert [] == rig.daemon.inbox.unprocessed(10)


def test_poll_duty_stores_what_it_finds_and_wakes_the_engine(make_rig: MakeRig, tmp_path: Path,
                                                             zendesk: FakeZendesk) -> None:
    rig = zendesk_rig(make_rig, tmp_path, zendesk)
    zendesk.put_ticket(zendesk_api_ticket(7, created_at=rig.clock.now() - timedelta(minutes=2)))
    report = rig.run("poll:zendesk")
    assert (1, True, ("engine",)) == (report.done, report.ok, report.wake)
    assert rig.clock.now() + timedelta(minutes=1) == report.next_at
    [stored] = rig.daemon.inbox.unprocessed(10)
    assert ("zendesk", "7") == (stored.source, stored.ticket_id)
    rig.work()
    [incident] = rig.daemon.service.list()
    assert ("zendesk", "7", "acme") == (incident.source, incident.ticket_id, incident.customer)


def test_a_failed_poll_is_counted_and_backs_off(make_rig: MakeRig, zendesk: FakeZendesk) -> None:
    rig = make_rig(sources=polling(zendesk, api_token="wrong-token"))
    first = rig.run("poll:zendesk")
    second = rig.run("poll:zendesk")
    assert (False, (), rig.clock.now() + timedelta(minutes=1)) == (first.ok, first.wake, first.next_at)
    assert rig.clock.now() + timedelta(minutes=2) == second.next_at
    assert b'oncall_poll_errors_total{source="zendesk"} 2.0' in rig.daemon.metrics.render()


def test_writeback_duty_notes_the_page_on_the_ticket(make_rig: MakeRig, tmp_path: Path,
                                                     zendesk: FakeZendesk) -> None:
    rig = zendesk_rig(make_rig, tmp_path, zendesk, write_back=True)
    zendesk.put_ticket(zendesk_api_ticket(7, created_at=rig.clock.now() - timedelta(minutes=2)))
    rig.run("poll:zendesk")
    rig.work()
    report = rig.run("writeback")
    assert report.done >= 1
    assert report.done == len(zendesk.comments[7])
    assert 0 == rig.run("writeback").done  # each note once


def test_deadman_duty_pings_while_healthy_and_not_while_draining(make_rig: MakeRig) -> None:
    pinged: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        pinged.append(str(request.url))
        return httpx.Response(200)

    rig = make_rig(deadman_url="https://deadman.example/ping/abc",
                   http=httpx.Client(transport=httpx.MockTransport(answer)))
    assert (1, True) == (rig.run("deadman").done, rig.run("deadman").ok)
    rig.daemon.draining = True
    assert (0, False) == (rig.run("deadman").done, rig.run("deadman").ok)
    assert ["https://deadman.example/ping/abc"] * 2 == pinged


def test_deadman_ping_that_fails_is_reported_not_raised(make_rig: MakeRig) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    rig = make_rig(deadman_url="https://deadman.example/ping",
                   http=httpx.Client(transport=httpx.MockTransport(refuse)))
    assert (0, False) == (rig.run("deadman").done, rig.run("deadman").ok)


def test_reload_duty_swaps_in_edited_files_once(rig: Rig) -> None:
    assert 0 == rig.run("reload").done
    (rig.config / "oncall.yaml").write_text(PEOPLE.replace("delay: 5m", "delay: 7m"))
    assert 1 == rig.run("reload").done
    assert timedelta(minutes=7) == rig.daemon.snapshot.escalation_policies["emergency"].steps[0].delay
    assert 0 == rig.run("reload").done


def test_reload_duty_merges_an_override_another_instance_stored(rig: Rig) -> None:
    now = rig.clock.now()
    other = rig.on_call()
    cover = next(p for p in ("erin", "frank") if p != other)
    StoredOverrides(rig.daemon.engine).add(rig.daemon.snapshot, schedule="emergency", person=cover, replaces=None,
                                           start=now + timedelta(hours=1), end=now + timedelta(hours=2),
                                           reason=None, actor="gina", now=now)
    assert 1 == rig.run("reload").done
    assert cover == rig.daemon.snapshot.on_call("emergency", now + timedelta(hours=1, minutes=30))[0]
    assert 0 == rig.run("reload").done
