"""Through the daemon (fake clock, recording transport): a policy's acknowledgement timeout,
a solved ticket resolving its acknowledged incident, and people's own notification rules."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from daemon_rig import DESK, PEOPLE, MakeRig, Rig, write_config

from oncall.interfaces import Channel

MIN = timedelta(minutes=1)
FIRST_STEP = """\
      - targets: [{schedule: emergency}]
        contact: sms
        delay: 5m
"""
assert FIRST_STEP in PEOPLE


def _rig(make_rig: MakeRig, tmp_path: Path, people: str) -> Rig:
    return make_rig(config=write_config(tmp_path / "paging-rules", desk=DESK, people=people))


def _incident_page(rig: Rig, incident_id: int, person: str) -> str:
    """The incident's console page, opened by the person's incident link."""
    import asyncio

    import httpx

    from oncall.web.console.core import ConsoleDeps
    from oncall.web.console.routes import build_console
    from oncall.web.console.signin import incident_link_path

    d = rig.daemon
    console = build_console(ConsoleDeps(
        service=d.service, snapshot=lambda: d.snapshot, engine=d.engine, clock=rig.clock.now,
        settings=d.settings, transport=d.transport, overrides=d.overrides,
        on_overrides_changed=d.refresh_overrides))
    path = incident_link_path(console, incident_id, person)

    async def get() -> str:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=d.build_app()),
                                     base_url="http://127.0.0.1:18080") as client:
            answer = await client.get(path)
            assert 200 == answer.status_code
            return answer.text

    return asyncio.run(get())


def _audit(rig: Rig, incident_id: int) -> list[tuple[str, str, str]]:
    return [(a.kind, a.actor, a.reason or "") for a in rig.daemon.service.audit(incident_id)]


def test_an_acknowledgement_that_times_out_pages_the_acknowledger_again(make_rig: MakeRig,
                                                                        tmp_path: Path) -> None:
    rig = _rig(make_rig, tmp_path, PEOPLE.replace("    repeat: forever\n",
                                                  "    repeat: forever\n    ack_timeout: 10m\n"))
    rig.file("T-1")
    rig.work()
    [inc] = rig.daemon.service.list()
    who = rig.on_call()
    rig.daemon.service.ack(inc.id, who, rig.clock.now(), via="sms")
    assert "Acknowledgement times out in 10 min" in _incident_page(rig, inc.id, who)
    rig.clock.advance(10 * MIN - timedelta(seconds=1))
    rig.work()
    assert "acknowledged" == rig.daemon.service.get(inc.id).state.value
    assert 1 == len(rig.to(who))
    rig.clock.advance(timedelta(seconds=1))
    rig.work()
    assert "triggered" == rig.daemon.service.get(inc.id).state.value
    assert [Channel.SMS, Channel.SMS] == [m.channel for m in rig.to(who)]
    assert [("ack_timeout", "oncall")] == [(k, a) for k, a, _ in _audit(rig, inc.id) if k == "ack_timeout"]
    rig.clock.advance(5 * MIN)  # the first step's delay: the escalation goes on (step 2 calls)
    rig.work()
    assert Channel.VOICE == rig.to(who)[-1].channel


def test_a_ticket_solved_in_the_helpdesk_resolves_its_acknowledged_incident(rig: Rig) -> None:
    rig.file("T-1")
    rig.work()
    [inc] = rig.daemon.service.list()
    rig.daemon.service.ack(inc.id, rig.on_call(), rig.clock.now())
    rig.clock.advance(MIN)
    rig.file("T-1", status="solved", created=rig.clock.now() - MIN, updated=rig.clock.now())
    rig.work()
    assert "resolved" == rig.daemon.service.get(inc.id).state.value
    assert ("resolved", "ticket", "ticket solved in the helpdesk") == _audit(rig, inc.id)[-1]


def test_personal_rules_are_followed_and_an_asked_for_call_is_never_held(make_rig: MakeRig,
                                                                        tmp_path: Path) -> None:
    """erin asks for a text, then calls at 2 and 4 minutes: the voice storm limit (5m) would
    hold the second call; it goes out on time."""
    people = PEOPLE.replace(FIRST_STEP, FIRST_STEP.replace("contact: sms", "contact: own"))
    for pid in ("erin", "frank"):
        people = people.replace(f"  - id: {pid}\n", f"  - id: {pid}\n    notify: [{{via: sms}}, "
                                "{via: voice, after: 2m}, {via: voice, after: 4m}]\n")
    rig = _rig(make_rig, tmp_path, people)
    rig.file("T-1")
    rig.work()
    who = rig.on_call()
    assert [Channel.SMS] == [m.channel for m in rig.to(who)]
    rig.clock.advance(2 * MIN)
    rig.work()
    assert [Channel.SMS, Channel.VOICE] == [m.channel for m in rig.to(who)]
    rig.clock.advance(2 * MIN)
    rig.work()
    assert [Channel.SMS, Channel.VOICE, Channel.VOICE] == [m.channel for m in rig.to(who)]
    [inc] = rig.daemon.service.list()
    rig.daemon.service.ack(inc.id, who, rig.clock.now())
    rig.clock.advance(30 * MIN)
    rig.work()
    assert 3 == len(rig.to(who))
