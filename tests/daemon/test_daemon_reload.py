"""Reloading the configuration, hand-off notices and the banner, on an injected clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from daemon_rig import NY, PEOPLE, MakeRig, Rig

from oncall.interfaces import Channel

NEW_PERSON = PEOPLE.replace("schedules:", """\
  - id: hank
    name: Hank Hill
    timezone: America/New_York
    phone: "+12025550146"
    contact_methods: [sms]
schedules:""")


def metric(rig: Rig, name: str) -> float:
    for line in rig.daemon.metrics.render().decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def test_good_edit_swaps_the_snapshot(rig: Rig) -> None:
    old = rig.daemon.snapshot
    (rig.config / "oncall.yaml").write_text(NEW_PERSON)
    assert rig.daemon.reload("test")
    assert "hank" in rig.daemon.snapshot.people
    assert rig.daemon.snapshot is not old
    assert 1.0 == metric(rig, "oncall_reloads_total")


def test_bad_edit_keeps_the_old_snapshot_and_alerts_admins_once(rig: Rig) -> None:
    old = rig.daemon.snapshot
    (rig.config / "oncall.yaml").write_text(PEOPLE.replace("[{person: gina}]", "[{person: nobody}]"))
    assert not rig.daemon.reload("test")
    assert rig.daemon.snapshot is old
    assert 1.0 == metric(rig, "oncall_reload_failures_total")
    [alert] = [m for m in rig.to("gina") if "refused" in m.text]
    assert "nobody" in alert.text
    # The reload check sees the same bad files again: no second alert.
    rig.clock.advance(timedelta(minutes=1))
    assert not rig.daemon.reload("again")
    assert 1 == len([m for m in rig.to("gina") if "refused" in m.text])
    ready = rig.request("GET", "/readyz")
    assert 200 == ready.status_code
    assert "latest edit refused" in ready.json()["checks"]["configuration"]["detail"]


def test_periodic_check_does_not_retry_the_same_bad_edit(rig: Rig) -> None:
    (rig.config / "oncall.yaml").write_text("people: [")
    rig.run("reload")
    rig.run("reload")
    assert 1.0 == metric(rig, "oncall_reload_failures_total")


def test_fixing_the_edit_clears_the_error(rig: Rig) -> None:
    (rig.config / "oncall.yaml").write_text("people: [")
    assert not rig.daemon.reload("bad")
    (rig.config / "oncall.yaml").write_text(NEW_PERSON)
    assert rig.daemon.reload("fixed")
    assert rig.daemon.last_reload_error is None


def test_in_flight_incident_keeps_its_policy(rig: Rig) -> None:
    """An edit making step 1 wait an hour does not delay the incident already paging."""
    rig.file("T-1")
    rig.work()
    (rig.config / "oncall.yaml").write_text(PEOPLE.replace("delay: 5m", "delay: 60m"))
    assert rig.daemon.reload("test")
    rig.file("T-2")
    rig.work()
    rig.clock.advance(timedelta(minutes=5))
    rig.work()
    first, _second = rig.daemon.service.list()
    voice = [m.incident_ids for m in rig.transport.sent if m.channel is Channel.VOICE]
    assert [(first.id,)] == voice  # the new incident follows the new 60-minute delay


def test_handoff_notice_is_sent_once_per_shift(make_rig: MakeRig) -> None:
    rig = make_rig(datetime(2026, 11, 30, 7, 30, tzinfo=NY))  # the weekly hand-off is Monday 08:00
    incoming = rig.daemon.snapshot.on_call("emergency", datetime(2026, 11, 30, 8, 30, tzinfo=NY))[0]
    assert 1 == rig.run("handoffs").done
    [notice] = rig.transport.sent
    assert (incoming, Channel.SMS) == (notice.person_id, notice.channel)
    rig.clock.advance(timedelta(minutes=5))
    assert 0 == rig.run("handoffs").done
    again = make_rig(rig.clock.now())  # a restart does not repeat it either
    assert 0 == again.run("handoffs").done


def test_no_handoff_notice_outside_the_window(make_rig: MakeRig) -> None:
    rig = make_rig(datetime(2026, 11, 30, 6, 0, tzinfo=NY))
    assert 0 == rig.run("handoffs").done


def test_handoff_notices_can_be_turned_off(make_rig: MakeRig) -> None:
    rig = make_rig(datetime(2026, 11, 30, 7, 30, tzinfo=NY), handoff_notices=False)
    assert 0 == rig.run("handoffs").done


def test_banner_names_everything_and_warns_about_insecure_sources(make_rig: MakeRig) -> None:
    rig = make_rig(sources={"generic": {"insecure": True}})
    banner = rig.daemon.banner()
    for part in (str(rig.config), "oncall.db", "RecordingTransport", "127.0.0.1:18080", "emergency",
                 "UNAUTHENTICATED"):
        assert part in banner


def test_started_event_carries_the_banner_facts_with_the_password_hidden(make_rig: MakeRig) -> None:
    """JSON logs get the banner as one structured "oncall started" event."""
    rig = make_rig(sources={"generic": {"insecure": True}}, public_url="https://oncall.example.com")
    rig.daemon.settings = rig.daemon.settings.model_copy(
        update={"database_url": "postgresql+psycopg://oncall:hunter2@db.example/oncall"})
    facts = rig.daemon.startup_facts()
    assert "postgresql+psycopg://oncall:***@db.example/oncall" == facts["database"]
    assert "hunter2" not in repr(facts)
    assert ("http://127.0.0.1:18080", "https://oncall.example.com", str(rig.config), "RecordingTransport",
            ["generic"], ["emergency"]) == (facts["listen"], facts["public_url"], facts["config_dir"],
                                            facts["transport"], facts["sources"], facts["schedules"])
    assert any("UNAUTHENTICATED" in w for w in facts["warnings"])
    assert facts["version"]
