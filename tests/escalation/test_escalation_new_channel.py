"""A channel lands in one room: one descriptor registered with ``register_channel`` (here, in
the test alone, with a fake transport) is a channel the configuration, the engine, the runner,
the storm limit and the transport routing all know — nothing else is edited."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine
from typer.testing import CliRunner

from oncall.cli import app
from oncall.config.loader import check
from oncall.directory import SnapshotDirectory
from oncall.escalation.directory import Contact
from oncall.escalation.messages import PageSubject, bundle_text, page_text
from oncall.escalation.policy import EscalationPolicy, NotificationSettings
from oncall.escalation.runner import Runner
from oncall.incidents.model import TicketSummary
from oncall.incidents.service import IncidentService
from oncall.interfaces import Channel
from oncall.notify.channels import Addresses, ChannelSpec, register_channel, unregister_channel
from oncall.notify.composite import ChannelRouter, build_transport
from oncall.notify.messages import PageSummary
from oncall.schedules.models import Person
from oncall.testing.paging import FakeDirectory, RecordingTransport

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@dataclass
class Pigeon:
    """The test's channel and the fake transport its descriptor builds."""

    channel: Channel
    loft: RecordingTransport


@pytest.fixture
def pigeon() -> Iterator[Pigeon]:
    loft = RecordingTransport(name="loft")
    channel = register_channel(ChannelSpec(
        name="pigeon", messages="pigeons", default_min_interval=timedelta(minutes=20),
        transport=lambda _settings: loft))
    try:
        yield Pigeon(channel=channel, loft=loft)
    finally:
        unregister_channel(channel)


def ticket(n: int) -> TicketSummary:
    return TicketSummary(source="generic", ticket_id=f"T-{n}", priority="urgent", customer="acme",
                         subject="Production down")


def flown(loft: RecordingTransport) -> list[tuple[str, str, str, tuple[int, ...]]]:
    return [(m.channel.value, m.person_id, m.to, m.incident_ids) for m in loft.sent]


def test_a_channel_registered_in_a_test_pages_through_a_step_and_a_persons_own_methods(
        db: Engine, pigeon: Pigeon) -> None:
    """Step 1 names the channel (contact: pigeon), step 2 reaches a person whose own contact
    methods are that channel; the routing finds its transport through the registry, and its
    storm limit (notifications.pigeon) holds a second page back and bundles it."""
    transport, banner = build_transport(SimpleNamespace(twilio=SimpleNamespace(configured=False),
                                                        smtp=SimpleNamespace(configured=False)))
    assert isinstance(transport, ChannelRouter) and "loft (pigeon)" == banner
    policy = EscalationPolicy.model_validate({"id": "coop", "steps": [
        {"targets": {"person": "dora"}, "contact": "pigeon", "delay": "10m"},
        {"targets": {"person": "eve"}, "contact": "own", "delay": "10m"}]})
    directory = FakeDirectory(
        contacts={"dora": Contact(person_id="dora", addresses=Addresses({"pigeon": "loft 7"})),
                  "eve": Contact(person_id="eve", addresses=Addresses({"pigeon": "loft 9"}),
                                 methods=(pigeon.channel,))},
        policies={"coop": policy})
    limits = NotificationSettings.model_validate({"pigeon": {"min_interval": "30m"}})
    service = IncidentService(db, lambda: directory)
    runner = Runner(db, transport, lambda: directory, lambda: limits)

    first = service.open_or_update(ticket(1), "coop", T0)
    runner.run_due(T0)
    assert [("pigeon", "dora", "loft 7", (first.id,))] == flown(pigeon.loft)

    second = service.open_or_update(ticket(2), "coop", T0 + MIN)
    report = runner.run_due(T0 + MIN)
    assert Counter({"pigeon": 1}) == report.held_by_channel  # dora had one 1 minute ago
    assert 1 == len(pigeon.loft.sent)

    runner.run_due(T0 + 10 * MIN)  # nobody acknowledged the first: step 2, eve's own method
    assert ("pigeon", "eve", "loft 9", (first.id,)) == flown(pigeon.loft)[-1]

    runner.run_due(T0 + 30 * MIN)  # dora's limit has passed: the held page goes out
    assert ("pigeon", "dora", "loft 7", (second.id,)) in flown(pigeon.loft)
    assert "URGENT #" in pigeon.loft.sent[0].text  # not read aloud: the SMS wording


def test_a_channel_without_a_configured_limit_has_its_descriptors(pigeon: Pigeon) -> None:
    assert timedelta(minutes=20) == NotificationSettings().min_interval(pigeon.channel)


def test_a_channel_may_word_its_pages_itself() -> None:
    """A page and a bundle (oldest first) in the channel's words, without SMS reply codes."""
    def post(pages: Sequence[PageSummary]) -> str:
        return "; ".join(f"#{p.code} {p.customer}: {p.subject}" for p in pages)

    board = register_channel(ChannelSpec(name="board", messages="posts",
                                         default_min_interval=MIN, wording=post))
    try:
        pages = [PageSubject(incident_id=n, short_code=n, priority="urgent", customer="acme",
                             subject=f"Outage {n}", ticket_id=f"T-{n}") for n in (2, 1)]
        assert "#2 acme: Outage 2" == page_text(pages[0], board)
        assert "#1 acme: Outage 1; #2 acme: Outage 2" == bundle_text(pages, board)
    finally:
        unregister_channel(board)


CONFIG = """\
desks: [{id: east, timezone: America/New_York, hours: {mon-fri: "09:00-17:00"}}]
rules: [{name: everything, page: true, escalation_policy: coop}]
people:
  - {id: dora, name: Dora, timezone: America/New_York, addresses: {pigeon: loft-7},
     contact_methods: [pigeon]}
schedules:
  - {id: coop, timezone: America/New_York,
     layers: [{participants: [dora], shift: 1w, start_date: "2026-01-05"}]}
escalation_policies:
  - {id: coop, steps: [{targets: {schedule: coop}, contact: pigeon}]}
notifications:
  admins: [dora]
  admin_alerts: {dora: {warning: [pigeon], critical: [pigeon]}}
  pigeon: {min_interval: 5m}
"""


def test_the_configuration_names_a_registered_channel_everywhere_a_channel_goes(
        tmp_path: Path, pigeon: Pigeon) -> None:
    (tmp_path / "oncall.yaml").write_text(CONFIG)
    snapshot, issues = check(tmp_path, now=T0, horizon=timedelta(days=7))
    assert [] == issues and snapshot is not None
    dora = SnapshotDirectory(snapshot).contact("dora")
    assert dora is not None and "loft-7" == dora.address(pigeon.channel)
    assert timedelta(minutes=5) == snapshot.notifications.min_interval(pigeon.channel)

    (tmp_path / "oncall.yaml").write_text(CONFIG.replace(" addresses: {pigeon: loft-7},", ""))
    _snapshot, issues = check(tmp_path, now=T0, horizon=timedelta(days=7))
    assert {"person 'dora' is reached by pigeon but has no pigeon address",
            "admin_alerts: 'dora' gets warning alerts by pigeon but has no pigeon address",
            "admin_alerts: 'dora' gets critical alerts by pigeon but has no pigeon address",
            } == {i.message for i in issues}


def test_a_channel_may_judge_addresses_by_the_settings_and_oncall_check_reports_it(tmp_path: Path) -> None:
    """An address the configuration alone cannot judge (a webhook's name, its URL a secret in the
    settings): the descriptor's check_address is handed the process settings by `oncall check`,
    which reports what it finds at the address's file and line."""
    def open_lofts(settings: object, address: str) -> tuple[str, str] | None:
        return ("error", f"loft {address!r} is closed ({type(settings).__name__})") if address == "loft-9" else None

    channel = register_channel(ChannelSpec(name="pigeon", messages="pigeons", default_min_interval=MIN,
                                           check_address=open_lofts))
    try:
        (tmp_path / "oncall.yaml").write_text(CONFIG)
        assert 0 == CliRunner().invoke(app, ["--config", str(tmp_path), "check"]).exit_code
        (tmp_path / "oncall.yaml").write_text(CONFIG.replace("loft-7", "loft-9"))
        result = CliRunner().invoke(app, ["--config", str(tmp_path), "check"])
    finally:
        unregister_channel(channel)
    assert 1 == result.exit_code
    assert f"{tmp_path / 'oncall.yaml'}:4: error: person 'dora': loft 'loft-9' is closed (Settings)" in result.output


def test_an_unregistered_channel_is_a_configuration_error_naming_the_known_ones() -> None:
    with pytest.raises(ValidationError, match="Input should be 'sms', 'voice', 'email', 'chat', 'both' or 'own'"):
        EscalationPolicy.model_validate({"id": "coop", "steps": [
            {"targets": {"person": "dora"}, "contact": "pigeon"}]})
    with pytest.raises(ValidationError, match="Input should be 'sms', 'voice', 'email' or 'chat'"):
        Person.model_validate({"id": "dora", "name": "Dora", "timezone": "UTC",
                               "contact_methods": ["pigeon"]})
    with pytest.raises(ValidationError, match="pigeon\n  Extra inputs are not permitted"):
        NotificationSettings.model_validate({"pigeon": {"min_interval": "5m"}})
