"""CLI: who, shifts, override add|list|remove through typer's CliRunner and a fake snapshot."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
import yaml
from icalendar import Calendar
from typer.testing import CliRunner

from oncall.errors import ConfigError
from oncall.schedules import Override, Person, Schedule, on_call
from oncall.schedules.cli import register

PEOPLE = {p["id"]: Person.model_validate(p) for p in [
    {"id": "alice", "name": "Alice Example", "timezone": "America/Los_Angeles",
     "phone": "+14155550101"},
    {"id": "bob", "name": "Bob Example", "timezone": "Europe/London", "phone": "+442079460958"},
    {"id": "dave", "name": "Dave Example", "timezone": "America/Los_Angeles",
     "phone": "+14155550102"},
]}
SCHEDULES = {s["id"]: Schedule.model_validate(s) for s in [
    {"id": "primary", "timezone": "America/Los_Angeles", "layers": [
        {"participants": ["alice", "bob"], "shift": "1w", "handoff_time": "09:00",
         "start_date": "2026-01-05"}]},
    {"id": "nights", "timezone": "Europe/London", "layers": [
        {"participants": ["bob"], "shift": "1d", "handoff_time": "18:00",
         "start_date": "2026-01-05",
         "restrictions": [{"days": ["weekdays"], "from": "18:00", "to": "06:00"}]}]},
]}


@dataclass
class FakeSnapshot:
    config_dir: Path
    people: dict[str, Person] = field(default_factory=lambda: dict(PEOPLE))
    schedules: dict[str, Schedule] = field(default_factory=lambda: dict(SCHEDULES))
    overrides: tuple[Override, ...] = ()


def make_app(loader: Callable[[], Any]) -> typer.Typer:
    app = typer.Typer()
    register(app, loader)
    return app


@pytest.fixture
def snap(tmp_path: Path) -> FakeSnapshot:
    return FakeSnapshot(config_dir=tmp_path)


@pytest.fixture
def invoke(snap: FakeSnapshot) -> Callable[..., Any]:
    def reload() -> FakeSnapshot:
        # like the real loader: re-read overrides from disk every time
        path = snap.config_dir / "overrides.yaml"
        if path.exists():
            items = (yaml.safe_load(path.read_text()) or {}).get("overrides") or []
            snap.overrides = tuple(Override.model_validate(i) for i in items)
        return snap

    app = make_app(reload)

    def run(*args: str) -> Any:
        return CliRunner().invoke(app, list(args))
    return run


@pytest.mark.parametrize(("args", "expected"), [
    (["who", "--at", "2026-01-07T04:00:00-08:00", "--json"],  # noon in London
     {"primary": ["alice"], "nights": []}),
    (["who", "primary", "--at", "2026-01-12T09:00:00-08:00", "--json"], {"primary": ["bob"]}),
    (["who", "nights", "--at", "2026-01-07T23:00:00Z", "--json"], {"nights": ["bob"]}),
])
def test_who_json(invoke: Callable[..., Any], args: list[str], expected: dict[str, Any]) -> None:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == expected


def test_who_text_names_people_and_says_nobody(invoke: Callable[..., Any]) -> None:
    result = invoke("who", "--at", "2026-01-07T04:00:00-08:00")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["primary: Alice Example (alice)", "nights: NOBODY"]


def test_who_now_works(invoke: Callable[..., Any]) -> None:
    result = invoke("who", "--json")
    assert result.exit_code == 0
    assert set(json.loads(result.stdout)) == {"primary", "nights"}


@pytest.mark.parametrize(("args", "message"), [
    (["who", "nope"], "unknown schedule 'nope'"),
    (["who", "--at", "2026-01-07T12:00:00"], "has no time zone"),
    (["who", "--at", "tomorrow"], "is not a time"),
    (["shifts", "--from", "2026-01-07T00:00Z", "--to", "2026-01-06T00:00Z"], "must be after"),
    (["shifts", "--person", "zed"], "unknown person 'zed'"),
    (["override", "add", "--schedule", "primary", "--person", "zed",
      "--from", "2099-01-01T00:00Z", "--to", "2099-01-02T00:00Z"], "unknown person 'zed'"),
    (["override", "add", "--schedule", "primary", "--person", "dave",
      "--from", "2020-01-01T00:00Z", "--to", "2020-01-02T00:00Z"], "ended in the past"),
    (["override", "add", "--schedule", "primary", "--person", "Dave Example",
      "--from", "2099-01-01T00:00Z", "--to", "2099-01-02T00:00Z"], "id:"),
    (["override", "remove", "nope"], "no override with id 'nope'"),
])
def test_mistakes_exit_2_with_message_and_no_traceback(invoke: Callable[..., Any],
                                                       args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_config_error_from_loader_is_reported(tmp_path: Path) -> None:
    def broken() -> Any:
        raise ConfigError("schedules/people.yaml: bad")

    result = CliRunner().invoke(make_app(broken), ["who"])
    assert result.exit_code == 2
    assert "schedules/people.yaml: bad" in result.stderr


def test_shifts_text_for_one_schedule(invoke: Callable[..., Any]) -> None:
    result = invoke("shifts", "--schedule", "primary", "--from", "2026-01-05T09:00:00-08:00",
                    "--to", "2026-01-19T09:00:00-08:00")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "# times in America/Los_Angeles",
        "Mon 2026-01-05 09:00-08:00  Mon 2026-01-12 09:00-08:00  primary          alice",
        "Mon 2026-01-12 09:00-08:00  Mon 2026-01-19 09:00-08:00  primary          bob",
    ]


def test_shifts_text_shows_whole_shifts_with_utc_offsets_across_fall_back(
        invoke: Callable[..., Any], snap: FakeSnapshot) -> None:
    """01:30 on 25 Oct 2026 happens twice in London: the offset says which one."""
    snap.overrides = (Override(id="o", schedule="nights", person="dave",
                               start=datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
                               end=datetime(2026, 10, 25, 3, 0, tzinfo=UTC)),
                      Override(id="p", schedule="nights", person="bob",
                               start=datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
                               end=datetime(2026, 10, 25, 1, 30, tzinfo=UTC)))
    result = invoke("shifts", "--schedule", "nights", "--from", "2026-10-25T01:00:00Z",
                    "--to", "2026-10-25T02:00:00Z")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "# times in Europe/London",
        "Sun 2026-10-25 01:30+01:00  Sun 2026-10-25 01:30+00:00  nights           bob",
        "Sun 2026-10-25 01:30+00:00  Sun 2026-10-25 03:00+00:00  nights           dave",
    ]


def test_shifts_ics_for_a_person_to_file(invoke: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "bob.ics"
    result = invoke("shifts", "--person", "bob", "--from", "2026-01-05T00:00:00Z",
                    "--to", "2026-01-20T00:00:00Z", "--ics", "--output", str(out))
    assert result.exit_code == 0, result.output
    events = Calendar.from_ical(out.read_bytes()).walk("VEVENT")
    summaries = {str(e["SUMMARY"]) for e in events}
    assert summaries == {"On call: primary", "On call: nights"}
    assert all(str(e.decoded("DTSTART").tzinfo) == "UTC" for e in events)
    assert str(Calendar.from_ical(out.read_bytes())["X-WR-TIMEZONE"]) == "Europe/London"
    # whole shifts: bob's week running at --from began on Mon 29 Dec 2025, 09:00 in Los Angeles
    assert min(e.decoded("DTSTART") for e in events) == datetime(2025, 12, 29, 17, tzinfo=UTC)


def test_override_add_list_remove_round_trip(invoke: Callable[..., Any], snap: FakeSnapshot) -> None:
    add = ["override", "add", "--schedule", "primary", "--person", "dave", "--replaces", "bob",
           "--from", "2099-12-24T17:00:00-08:00", "--to", "2099-12-26T09:00:00-08:00",
           "--reason", "holiday swap"]
    result = invoke(*add)
    assert result.exit_code == 0, result.output
    assert "added ovr-2099-12-24-dave" in result.stdout
    written = yaml.safe_load((snap.config_dir / "overrides.yaml").read_text())["overrides"]
    assert [o["id"] for o in written] == ["ovr-2099-12-24-dave"]

    again = invoke(*add)
    assert again.exit_code == 2
    assert "overlaps override 'ovr-2099-12-24-dave'" in again.stderr

    listed = invoke("override", "list", "--schedule", "primary")
    assert listed.exit_code == 0
    assert listed.stdout.startswith("ovr-2099-12-24-dave  primary  dave (replaces bob)  "
                                    "Thu 2099-12-24 17:00-08:00 -> Sat 2099-12-26 09:00-08:00")
    assert "# holiday swap" in listed.stdout

    who = invoke("who", "primary", "--at", "2099-12-25T00:00:00-08:00", "--json")
    at = datetime(2099, 12, 25, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert ("bob",) == on_call(SCHEDULES["primary"], at)
    assert json.loads(who.stdout) == {"primary": ["dave"]}

    removed = invoke("override", "remove", "ovr-2099-12-24-dave")
    assert removed.exit_code == 0, removed.output
    assert invoke("override", "list").stdout == ""


# Alice and Bob take turns weekly from Monday 09:00 in Los Angeles; Bob has the week of
# Monday 21 December 2099, Alice the one before.
IDLE_OVERRIDES = [
    pytest.param(["--person", "dave", "--replaces", "alice"],
                 "'alice' is not on call for 'primary' at any time from Thu 2099-12-24 17:00 to "
                 "Sat 2099-12-26 09:00 (America/Los_Angeles)", id="replaces-someone-off-that-week"),
    pytest.param(["--person", "bob"],
                 "'bob' is already on call for 'primary' all the time from Thu 2099-12-24 17:00 to "
                 "Sat 2099-12-26 09:00 (America/Los_Angeles)", id="already-on-call-the-whole-window"),
]


@pytest.mark.parametrize(("who", "reason"), IDLE_OVERRIDES)
def test_override_add_refuses_an_override_that_changes_nothing(
        invoke: Callable[..., Any], snap: FakeSnapshot, who: list[str], reason: str) -> None:
    result = invoke("override", "add", "--schedule", "primary", *who,
                    "--from", "2099-12-24T17:00:00-08:00", "--to", "2099-12-26T09:00:00-08:00")
    assert 2 == result.exit_code, result.output
    assert [f"error: override 'ovr-2099-12-24-{who[1]}' refused: it changes nothing: {reason} "
            "(--force writes it anyway)"] == result.stderr.splitlines()
    assert not (snap.config_dir / "overrides.yaml").exists()


def test_override_add_force_writes_an_override_that_changes_nothing(
        invoke: Callable[..., Any], snap: FakeSnapshot) -> None:
    result = invoke("override", "add", "--schedule", "primary", "--person", "dave", "--replaces", "alice",
                    "--from", "2099-12-24T17:00:00-08:00", "--to", "2099-12-26T09:00:00-08:00", "--force")
    assert 0 == result.exit_code, result.output
    written = yaml.safe_load((snap.config_dir / "overrides.yaml").read_text())["overrides"]
    assert ["ovr-2099-12-24-dave"] == [o["id"] for o in written]


def test_override_add_says_other_problems_before_changes_nothing(invoke: Callable[..., Any]) -> None:
    """A window in the past is the reason given, not that it changed nothing."""
    result = invoke("override", "add", "--schedule", "primary", "--person", "alice",
                    "--from", "2020-01-06T10:00:00-08:00", "--to", "2020-01-06T11:00:00-08:00")
    assert 2 == result.exit_code
    assert "ended in the past" in result.stderr
    assert "changes nothing" not in result.stderr
