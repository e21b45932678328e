"""Numbers written by others: Unicode digits and absurd lengths are not numbers, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oncall.numbers import ascii_int
from oncall.sources.pollers import retry_after
from oncall.tickets import Priority, Status, parse_priority, parse_status

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("4", 4), (" 30 ", 30), ("007", 7), ("0", 0), ("0" * 5000 + "1", 1),
    ("²", None), ("٣", None), ("", None), ("-1", None), ("1.5", None), ("9" * 19, None), ("9" * 5000, None),
])
def test_ascii_int(text: str, expected: int | None) -> None:
    assert expected == ascii_int(text)


@pytest.mark.parametrize("text", ["²", "٣", "9" * 5000])
def test_ticket_vocabulary_refuses_odd_digits_with_its_own_words(text: str) -> None:
    with pytest.raises(ValueError, match="priority"):
        parse_priority(text)
    with pytest.raises(ValueError, match="status"):
        parse_status(text)


def test_numeric_vendor_values_still_read() -> None:
    assert (Priority.URGENT, Status.CLOSED) == (parse_priority("4"), parse_status(5))


@pytest.mark.parametrize(("header", "expected"), [
    ("120", timedelta(seconds=120)), ("²", timedelta(seconds=60)), ("9" * 5000, timedelta(seconds=60)),
])
def test_retry_after_from_a_helpdesk(header: str, expected: timedelta) -> None:
    assert expected == retry_after(header, NOW, timedelta(seconds=60))
