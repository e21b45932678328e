"""Desks shared by the desk tests: the seeds' desks and a builder."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from oncall.desks import Desk

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
SIX_US = ["New Year's Day", "Memorial Day", "Independence Day", "Labor Day", "Thanksgiving",
          "Christmas Day"]


def desk(hours: Any, tz: str = "America/New_York", **extra: Any) -> Desk:
    return Desk.model_validate({"id": "t", "timezone": tz, "hours": hours, **extra})


PACIFIC = desk({"mon-fri": "07:00-17:00"}, "America/Los_Angeles")
UTC_DESK = desk({"mon-fri": "05:00-13:00"}, "UTC")
EASTERN = desk({"mon-fri": "08:00-16:00"}, holidays={"country": "US", "only": SIX_US},
               closed=[{"date": "2026-12-24", "name": "Company shutdown"}],
               half_days=[{"date": "2026-12-31", "hours": "09:00-13:00", "name": "New Year's Eve"}],
               emergency_only=[{"date": "2026-12-28", "name": "Year-end freeze"}])
ALWAYS = desk({"daily": "00:00-24:00"})
