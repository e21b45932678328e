"""Times typed on the command line: offsets, zone names, skipped and repeated local hours."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from oncall.cli import app, hoist_global_options
from oncall.instants import InstantError, parse_instant

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "utc"), [
    pytest.param("2026-11-28T03:00-05:00", datetime(2026, 11, 28, 8, 0, tzinfo=UTC), id="offset"),
    pytest.param("2026-11-28 03:00Z", datetime(2026, 11, 28, 3, 0, tzinfo=UTC), id="zulu"),
    pytest.param("2026-11-28 03:00 America/New_York", datetime(2026, 11, 28, 8, 0, tzinfo=UTC), id="zone-winter"),
    pytest.param("2026-07-01T03:00 America/New_York", datetime(2026, 7, 1, 7, 0, tzinfo=UTC), id="zone-summer"),
    pytest.param("2026-11-01 01:30-05:00", datetime(2026, 11, 1, 6, 30, tzinfo=UTC), id="repeated-hour-with-offset"),
    pytest.param("2028-02-29 23:59 Europe/London", datetime(2028, 2, 29, 23, 59, tzinfo=UTC), id="leap-day"),
    pytest.param("2026-11-28 03:00 UTC", datetime(2026, 11, 28, 3, 0, tzinfo=UTC), id="utc-name"),
    pytest.param(" now ", NOW, id="now"),
])
def test_accepted_instants(text: str, utc: datetime) -> None:
    assert utc == parse_instant(text, NOW).astimezone(UTC)


@pytest.mark.parametrize(("text", "reason"), [
    pytest.param("2026-03-08 02:30 America/New_York", "does not exist: the clocks in America/New_York skip that hour",
                 id="spring-gap"),
    pytest.param("2026-03-29 01:30 Europe/London", "does not exist", id="london-gap"),
    pytest.param("2026-11-01 01:30 America/New_York", "happens twice in America/New_York", id="fall-back"),
    pytest.param("2026-10-25 01:10 Europe/London", "2026-10-25 01:10+01:00 or 2026-10-25 01:10+00:00",
                 id="london-repeat-names-both-offsets"),
    pytest.param("2026-11-28 03:00", "has no time zone", id="naive"),
    pytest.param("2026-11-28 03:00 Mars/Olympus", "unknown time zone 'Mars/Olympus'", id="unknown-zone"),
    pytest.param("2026-11-28T03:00-05:00 America/New_York", "both an offset and a zone name", id="both"),
    pytest.param("yesterday", "is not a time", id="words"),
])
def test_refused_instants_say_why(text: str, reason: str) -> None:
    with pytest.raises(InstantError, match=reason.replace("+", r"\+")):
        parse_instant(text, NOW)


def test_the_cli_reports_a_skipped_hour_in_one_line() -> None:
    result = CliRunner().invoke(app, ["who", "--at", "2026-03-08 02:30 America/New_York"])
    assert 0 != result.exit_code
    assert "--at: '2026-03-08 02:30 America/New_York' does not exist" in result.output


@pytest.mark.parametrize(("argv", "expected"), [
    (["check", "--config", "x"], ["--config", "x", "check"]),
    (["who", "alpha", "-c", "x", "--json"], ["-c", "x", "who", "alpha", "--json"]),
    (["check", "--config=x"], ["--config=x", "check"]),
    (["--config", "x", "check"], ["--config", "x", "check"]),
    (["send-ticket", "-", "--", "--config", "x"], ["send-ticket", "-", "--", "--config", "x"]),
])
def test_config_is_accepted_after_the_command(argv: list[str], expected: list[str]) -> None:
    assert expected == hoist_global_options(argv)
