"""Admin alerts by severity: a configuration problem never rings a phone; a broken page may."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from daemon_rig import MONDAY_MORNING, NY, PEOPLE, PHONES, MakeRig, Rig, write_config

from oncall.alerts import coverage_gap_alerts
from oncall.config.loader import load
from oncall.errors import DeliveryError
from oncall.escalation.alerting import AlertSeverity
from oncall.interfaces import Channel, Outbound
from oncall.notify.retry import NO_WAIT
from oncall.notify.settings import TwilioSettings
from oncall.notify.twilio_transport import TwilioTransport
from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.paging import RecordingTransport
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

GINA = """\
    phone: "+12025550145"
    contact_methods: [sms, voice]"""
# Gina, the admin, would be called first if her own contact methods decided.
VOICE_FIRST = PEOPLE.replace(GINA, GINA.replace("[sms, voice]", "[voice, sms]"))
TYPO = "[{person: nobody}]"


class FailingTransport(RecordingTransport):
    """Records everything and tells the daemon it is failing persistently."""

    healthy = False


def refuse_a_reload(rig: Rig, people: str = VOICE_FIRST) -> None:
    (rig.config / "oncall.yaml").write_text(people.replace("[{person: gina}]", TYPO))
    assert not rig.daemon.reload("typo")


def test_refused_reload_texts_the_admin_and_never_calls_with_the_fake_twilio(make_rig: MakeRig,
                                                                            tmp_path: Path) -> None:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        twilio = TwilioTransport(TwilioSettings(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                                from_number=FROM_NUMBER, api_base_url=fake.base_url),
                                 "https://oncall.example.com", retry=NO_WAIT)
        rig = make_rig(config=write_config(tmp_path / "config", people=VOICE_FIRST),
                       transport=twilio)  # any Transport will do
        refuse_a_reload(rig)
        [sms] = fake.wait_for_messages(1)
        assert PHONES["gina"] == sms.to
        assert sms.body.startswith("oncall admin alert: configuration edit refused")
        assert [] == fake.calls


def test_refused_reload_whose_sms_fails_is_not_turned_into_a_call(make_rig: MakeRig) -> None:
    def sms_down(message: Outbound) -> Exception | None:
        return DeliveryError("carrier down") if message.channel is Channel.SMS else None

    rig = make_rig(transport=RecordingTransport(fail=sms_down))
    refuse_a_reload(rig, PEOPLE)
    assert [Channel.SMS] == [m.channel for m in rig.to("gina")]  # no e-mail address either


def test_failing_transport_is_critical_and_may_call(make_rig: MakeRig, tmp_path: Path) -> None:
    rig = make_rig(config=write_config(tmp_path / "config", people=VOICE_FIRST), transport=FailingTransport())
    rig.run("selfcheck")
    [call] = rig.to("gina")
    assert Channel.VOICE is call.channel
    assert call.text.startswith("oncall CRITICAL admin alert: FailingTransport is failing persistently")


CHOSEN = VOICE_FIRST.replace('phone: "+12025550145"', 'phone: "+12025550145"\n    email: "gina@example.test"').replace(
    "notifications:\n  admins: [gina]",
    "notifications:\n  admins: [gina]\n  admin_alerts:\n    gina: {warning: [email], critical: [sms]}")


def test_each_admins_choice_of_channels_is_honoured(make_rig: MakeRig, tmp_path: Path) -> None:
    rig = make_rig(config=write_config(tmp_path / "config", people=CHOSEN), transport=FailingTransport())
    refuse_a_reload(rig, CHOSEN)
    rig.run("selfcheck")
    warning, critical = rig.to("gina")
    assert (Channel.EMAIL, Channel.SMS) == (warning.channel, critical.channel)
    assert "configuration edit refused" in warning.text
    assert "FailingTransport is failing persistently" in critical.text


WEEKDAYS_ONLY = VOICE_FIRST.replace('        start_date: "2026-01-05"\n', '''        start_date: "2026-01-05"
        restrictions: [{days: mon-fri, from: "00:00", to: "24:00"}]
''')


def test_a_coverage_gap_is_a_warning_ahead_and_critical_once_under_way(make_rig: MakeRig,
                                                                       tmp_path: Path) -> None:
    """Nobody on call from Saturday 00:00: texted the day before, called when it starts, once."""
    rig = make_rig(MONDAY_MORNING, config=write_config(tmp_path / "config", people=WEEKDAYS_ONLY),
                   coverage_horizon_days=1)
    seen: list[tuple[Channel, str]] = []

    def at(when: datetime) -> list[tuple[Channel, str]]:
        rig.clock.set(when)
        rig.run("selfcheck")
        new = [(m.channel, m.text) for m in rig.to("gina")][len(seen):]
        seen.extend(new)
        return new

    assert [(Channel.SMS, "oncall admin alert: schedule emergency has nobody on call from Sat 00:00 to at "
                          "least Sat 01:00 (America/New_York)")] == at(datetime(2026, 12, 4, 1, 0, tzinfo=NY))
    assert [] == at(datetime(2026, 12, 4, 1, 1, tzinfo=NY))
    assert [(Channel.VOICE, "oncall CRITICAL admin alert: nobody is on call now for schedule emergency: its "
                            "pages reach nobody from Sat 00:00 to at least Sun 00:30 (America/New_York)")
            ] == at(datetime(2026, 12, 5, 0, 30, tzinfo=NY))
    assert [] == at(datetime(2026, 12, 5, 0, 31, tzinfo=NY))
    assert [] == at(datetime(2026, 12, 5, 12, 0, tzinfo=NY) + timedelta(hours=1))


def test_a_gap_under_way_longer_than_the_look_back_is_said_once_a_day(tmp_path: Path) -> None:
    snapshot = load(write_config(tmp_path / "config", people=WEEKDAYS_ONLY), now=MONDAY_MORNING, checks=())
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=NY)  # the gap began at 00:00, beyond an hour back

    def keys(now: datetime) -> list[tuple[str, AlertSeverity]]:
        return [(a.key, a.severity) for a in coverage_gap_alerts(snapshot, now, behind=timedelta(hours=1))]

    assert [("gap-now:emergency:long:2026-12-05", AlertSeverity.CRITICAL)] == keys(saturday)
    assert keys(saturday) == keys(saturday + timedelta(minutes=1))
    assert [("gap-now:emergency:long:2026-12-06", AlertSeverity.CRITICAL)] == keys(saturday + timedelta(days=1))
