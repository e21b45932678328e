"""Configuration value parsers: a value or a ValueError, never another exception."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oncall.fields import format_duration, parse_aware, parse_clock_time, parse_date, parse_duration

FUZZ = settings(max_examples=200, deadline=None)

anything = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary(max_size=10),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.datetimes(), st.dates(), st.times(), st.timedeltas())
duration_text = st.lists(
    st.tuples(st.one_of(st.integers(0, 10**20), st.floats(0, 1e20, allow_nan=False).map(lambda f: f"{f:.3f}")),
              st.sampled_from(["w", "d", "h", "m", "s", "x", "", " "])),
    min_size=1, max_size=4,
).map(lambda parts: "".join(f"{n}{u}" for n, u in parts))
clock_text = st.tuples(st.integers(-5, 130), st.integers(-5, 130), st.sampled_from([":", ".", "", " : "])).map(
    lambda t: f"{t[0]}{t[2]}{t[1]:02d}")
iso_text = st.one_of(
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
    st.dates().map(str),
    st.text(alphabet="0123456789-:T+Z. ", max_size=32))


def _value_or_value_error(parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        assert str(exc)
        return None


@FUZZ
@given(st.one_of(anything, duration_text))
def test_parse_duration(value: Any) -> None:
    result = _value_or_value_error(parse_duration, value)
    if result is not None:
        assert isinstance(result, timedelta)
        if not isinstance(value, timedelta):
            assert result >= timedelta(0)


@FUZZ
@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10_000)))
def test_format_duration_round_trips_whole_seconds(td: timedelta) -> None:
    whole = timedelta(seconds=int(td.total_seconds()))
    assert whole == parse_duration(format_duration(whole))


@pytest.mark.parametrize("value", [
    float("inf"), float("-inf"), float("nan"), 10**20, 1e300, "99999999999999999d", "9" * 400 + "s",
    "1e999w", -1, "-5m",
])
def test_parse_duration_refuses_out_of_range(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@FUZZ
@given(st.one_of(anything, clock_text))
def test_parse_clock_time(value: Any) -> None:
    result = _value_or_value_error(parse_clock_time, value)
    if result is not None:
        assert isinstance(result, time)


@FUZZ
@given(st.integers(0, 23), st.integers(0, 59))
def test_clock_time_text_and_yaml_sexagesimal_agree(hour: int, minute: int) -> None:
    expected = time(hour, minute)
    assert expected == parse_clock_time(f"{hour:02d}:{minute:02d}")
    assert expected == parse_clock_time(hour * 60 + minute)  # YAML 1.1 reads 17:00 as 1020


@FUZZ
@given(st.one_of(anything, iso_text))
def test_parse_aware(value: Any) -> None:
    result = _value_or_value_error(parse_aware, value)
    if result is not None:
        assert isinstance(result, datetime)
        assert result.utcoffset() is not None


@FUZZ
@given(st.datetimes())
def test_parse_aware_refuses_naive(naive: datetime) -> None:
    with pytest.raises(ValueError, match="time zone"):
        parse_aware(naive.isoformat())


@FUZZ
@given(st.one_of(anything, iso_text))
def test_parse_date(value: Any) -> None:
    _value_or_value_error(parse_date, value)


@settings(max_examples=200, deadline=None)
@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)))
def test_duration_text_round_trips_exactly(td: timedelta) -> None:
    """Policies are stored as JSON with their incidents: formatting must not lose a delay."""
    assert td == parse_duration(format_duration(td))
