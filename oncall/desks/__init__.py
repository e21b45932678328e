"""Support desks: business hours, holiday calendars and business-time arithmetic.

Configuration lives in :mod:`oncall.desks.model` (``Desk``); the questions asked of a desk
are pure functions of the desk and an explicit instant, in :mod:`oncall.desks.business_time`.
"""

from __future__ import annotations

from oncall.desks.business_time import (
    DeskState,
    DeskStatus,
    add_business_time,
    business_time_between,
    desk_status,
    holiday_name,
    is_open,
    next_close,
    next_open,
    open_intervals,
    standard_day,
)
from oncall.desks.model import (
    ClosedDay,
    Desk,
    EmergencyOnlyDay,
    HalfDay,
    HolidayCalendar,
    WeeklyHours,
    Window,
    default_desk,
)

__all__ = [
    "ClosedDay",
    "Desk",
    "DeskState",
    "DeskStatus",
    "EmergencyOnlyDay",
    "HalfDay",
    "HolidayCalendar",
    "WeeklyHours",
    "Window",
    "add_business_time",
    "business_time_between",
    "default_desk",
    "desk_status",
    "holiday_name",
    "is_open",
    "next_close",
    "next_open",
    "open_intervals",
    "standard_day",
]
