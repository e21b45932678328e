"""The configuration the daemon tests share: one desk in New York, three people on one
weekly schedule (the people of ``./schedules``, with the same phone numbers).

The daemon wiring tests (``tests/daemon/daemon_rig.py``) and the end-to-end tests
(``tests/e2e/e2e_process.py``) each add their own customers, rules and escalation
policies around these pieces. Tests edit the text with ``str.replace``, so the pieces
keep a fixed layout: two-space indents, one key per line.
"""

from __future__ import annotations

PHONES = {"erin": "+12025550143", "frank": "+12025550144", "gina": "+12025550145"}

# Business hours 08:00–16:00 on weekdays in New York; only direct customers are entitled.
EAST_DESK = """\
desks:
  - id: east
    timezone: America/New_York
    hours:
      mon-fri: "08:00-16:00"
entitlement:
  channels: [direct]
"""

# Erin and Frank take turns a week at a time (hand-off Monday 08:00); Gina is their manager.
PEOPLE = """\
people:
  - id: erin
    name: Erin Evans
    timezone: America/New_York
    phone: "+12025550143"
    contact_methods: [sms, voice]
  - id: frank
    name: Frank Foster
    timezone: America/New_York
    phone: "+12025550144"
    contact_methods: [sms, voice]
  - id: gina
    name: Gina Grant
    timezone: America/New_York
    phone: "+12025550145"
    contact_methods: [sms, voice]
schedules:
  - id: emergency
    timezone: America/New_York
    layers:
      - name: weekly
        participants: [erin, frank]
        shift: 1w
        handoff_time: "08:00"
        start_date: "2026-01-05"
"""
