"""Rotation schedules: people, layers, overrides, resolution, checks, hand-offs and ICS.

The time rules are in oncall.schedules.rotation; the file format in oncall.schedules.models.
"""

from __future__ import annotations

from oncall.schedules.checks import check_schedules
from oncall.schedules.handoffs import Handoff, handoff_text, upcoming_handoffs
from oncall.schedules.ics import shifts_ics
from oncall.schedules.models import Layer, Override, Person, Restriction, Schedule
from oncall.schedules.overrides_file import add_override, list_overrides, remove_override
from oncall.schedules.resolve import ResolvedSchedule, Shift, members, on_call, shifts

__all__ = [
    "Handoff",
    "Layer",
    "Override",
    "Person",
    "ResolvedSchedule",
    "Restriction",
    "Schedule",
    "Shift",
    "add_override",
    "check_schedules",
    "handoff_text",
    "list_overrides",
    "members",
    "on_call",
    "remove_override",
    "shifts",
    "shifts_ics",
    "upcoming_handoffs",
]
