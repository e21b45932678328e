"""Desk configuration: parsing of hours and calendars, and bad configurations rejected."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from oncall.desks import Desk, Window

BASE: dict[str, Any] = {"id": "d", "timezone": "America/New_York", "hours": {"mon-fri": "09:00-17:00"}}


def make(**changes: Any) -> Desk:
    return Desk.model_validate({**BASE, **changes})


def test_full_yaml_example_parses() -> None:
    """The documented YAML example (unquoted times and dates included) is accepted."""
    text = """
id: us
name: US desk
timezone: America/New_York
hours:
  mon-fri: "09:00-17:00"
  sat: [10:00-12:00, 13:00-15:00]
holidays:
  country: US
  subdiv: NY
  only: ["New Year's Day", "Memorial Day", "Independence Day", "Labor Day", "Thanksgiving",
         "Christmas Day"]
  observed: true
  categories: [public]
closed:
  - {date: 2026-12-24, name: "Company shutdown"}
half_days:
  - {date: 2026-12-31, hours: "09:00-13:00", name: "New Year's Eve"}
emergency_only:
  - {date: 2026-12-28, name: "Year-end freeze"}
"""
    desk = Desk.model_validate(yaml.safe_load(text))
    assert desk.hours.sat == (Window(start=600, end=720), Window(start=780, end=900))
    assert desk.hours.sun == ()
    assert desk.closed[0].date == date(2026, 12, 24)
    assert desk.half_days[0].hours == (Window(start=540, end=780),)
    assert desk.holidays is not None and desk.holidays.subdiv == "NY"


@pytest.mark.parametrize(
    ("hours", "day", "expected"),
    [
        ({"mon-fri": "09:00-17:00"}, "wed", ("09:00-17:00",)),
        ({"weekdays": "09:00-17:00"}, "fri", ("09:00-17:00",)),
        ({"weekends": "10:00-14:00"}, "sun", ("10:00-14:00",)),
        ({"daily": "00:00-24:00"}, "sat", ("00:00-24:00",)),
        ({"fri-mon": "22:00-02:00"}, "sun", ("22:00-02:00",)),
        ({"Monday": ["13:00-15:00", "09:00-12:00"]}, "mon", ("09:00-12:00", "13:00-15:00")),
        ({"mon": "closed", "tue": "09:00-10:00"}, "mon", ()),
        # YAML 1.1 reads unquoted 9:00 as the integer 540: accepted in the mapping form.
        (yaml.safe_load("mon: {start: 9:00, end: 17:00}"), "mon", ("09:00-17:00",)),
    ],
)
def test_hours_keys_and_values(hours: dict[str, Any], day: str, expected: tuple[str, ...]) -> None:
    desk = make(hours=hours)
    assert expected == tuple(str(w) for w in getattr(desk.hours, day))


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("09:00-17:00", 540, 1020),
        ("22:00-02:00", 1320, 1560),  # crosses midnight: ends on the next day
        ("00:00-24:00", 0, 1440),
        ("18:00-24:00", 1080, 1440),
        (" 7:30 - 8:15 ", 450, 495),
    ],
)
def test_window_parsing(text: str, start: int, end: int) -> None:
    window = Window.model_validate(text)
    assert (start, end) == (window.start, window.end)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hours": {"mon": "9-17"}}, "not an opening window"),
        ({"hours": {"mon": "09:00-09:00"}}, "starts and ends at the same time"),
        ({"hours": {"mon": "25:00-26:00"}}, "not a time of day"),
        ({"hours": {"mon": "24:00-02:00"}}, "starts at 24:00"),
        ({"hours": {"funday": "09:00-17:00"}}, "unknown day 'funday'"),
        ({"hours": {"mon-fri": "09:00-17:00", "wed": "10:00-11:00"}},
         "wed is given twice (in 'mon-fri' and 'wed')"),
        ({"hours": {"mon": ["09:00-12:00", "11:00-13:00"]}}, "overlap"),
        ({"hours": {}}, "is never open"),
        ({"hours": {"daily": "closed"}}, "is never open"),
        ({"hours": "09:00-17:00"}, "hours must be a mapping"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"holidays": {"country": "XX"}}, "unknown holiday country 'XX'"),
        ({"holidays": {"country": "US", "subdiv": "ZZ"}}, "unknown subdivision 'ZZ' of US"),
        ({"holidays": {"country": "US", "categories": ["nonsense"]}}, "nonsense"),
        ({"holidays": {"country": "US", "only": ["Festivus"]}}, "unknown holiday name(s) 'Festivus'"),
        ({"holidays": {"country": "US", "only": ["Festivus"]}}, "valid names: "),
        ({"holidays": {"country": "GB", "subdiv": "ENG", "only": ["Thanksgiving"]}},
         "for GB-ENG"),
        ({"closed": [{"date": "2027-02-29"}]}, "not a date"),
        ({"closed": [{"date": "2026-12-24"}], "emergency_only": [{"date": "2026-12-24"}]},
         "2026-12-24 is listed twice (in closed and emergency_only)"),
        ({"half_days": [{"date": "2026-12-31", "hours": "13:00-13:00"}]}, "same time"),
        ({"id": ""}, "at least 1 character"),
        ({"colour": "blue"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_configs_rejected_with_message(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        make(**changes)
    assert message in str(info.value)


def test_unknown_only_name_lists_the_valid_names() -> None:
    with pytest.raises(ValidationError) as info:
        make(holidays={"country": "US", "only": ["Christmas Day", "Festivus"]})
    text = str(info.value)
    assert "Columbus Day" in text and "Thanksgiving Day" in text and "'Christmas Day'" not in text


@pytest.mark.parametrize(
    "name", ["Christmas Day", "christmas day", "Thanksgiving", "Independence Day"]
)
def test_only_names_match_library_spelling(name: str) -> None:
    """Exact (any case) or a unique word prefix of the library's name."""
    desk = make(holidays={"country": "US", "only": [name]})
    assert desk.holidays is not None and desk.holidays.only == (name,)


def test_ambiguous_prefix_is_rejected() -> None:
    """AU-NSW has Easter Saturday, Sunday and Monday: 'Easter' alone names none of them."""
    with pytest.raises(ValidationError, match="unknown holiday name"):
        make(holidays={"country": "AU", "subdiv": "NSW", "only": ["Easter"]})
    make(holidays={"country": "AU", "subdiv": "NSW", "only": ["Easter Monday"]})


def test_desk_is_hashable_and_compares_by_value() -> None:
    a = make(closed=[{"date": "2026-12-24"}])
    b = make(closed=[{"date": "2026-12-24"}])
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1


def test_serialises_back_to_the_config_form() -> None:
    desk = make(hours={"mon-fri": "09:00-17:00", "sat": "22:00-02:00"})
    dumped = desk.model_dump(mode="json")
    assert dumped["hours"]["sat"] == ["22:00-02:00"]
    assert dumped["timezone"] == "America/New_York"
    assert Desk.model_validate(dumped) == desk


def test_json_schema_documents_the_written_form() -> None:
    schema = Desk.model_json_schema()
    hours = schema["$defs"]["WeeklyHours"]
    assert "HH:MM-HH:MM" in str(hours["additionalProperties"])
    assert "propertyNames" in hours


def test_lookup_table_is_dropped_with_its_desk() -> None:
    """A configuration reload replaces desks; their tables must not pile up."""
    import gc
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from oncall.desks import is_open
    from oncall.desks.hours import _TABLES

    desk = make()
    is_open(desk, datetime(2026, 7, 6, 9, tzinfo=ZoneInfo("America/New_York")))
    key = id(desk)
    assert key in _TABLES
    del desk
    gc.collect()
    assert key not in _TABLES
