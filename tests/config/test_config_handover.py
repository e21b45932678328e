"""A desk's hand-over and a rule's ``page: at_opening`` are checked with file:line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from oncall.config.loader import check

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("America/New_York"))
CONFIG = """\
desks:
  - id: east
    timezone: America/New_York
    hours: {mon-fri: "08:00-16:00"}
    HANDOVER
rules:
  RULE
people:
  - {id: erin, name: Erin, timezone: America/New_York, phone: "+12025550143"}
schedules:
  - id: day-shift
    timezone: America/New_York
    layers: [{participants: [erin], shift: 1w, start_date: "2026-01-05"}]
escalation_policies:
  - {id: day-desk, steps: [{targets: [{schedule: day-shift}]}]}
ADMINS
"""
HANDOVER_LINE = CONFIG.splitlines().index("    HANDOVER") + 1
RULE_LINE = CONFIG.splitlines().index("  RULE") + 1


@dataclass(frozen=True)
class Case:
    handover: str
    rule: str
    expected: list[str]
    admins: str = "notifications: {admins: [erin]}"


CASES = [
    pytest.param(Case("handover: {schedule: day-shift}", "- {name: all, page: false}", []), id="good"),
    pytest.param(Case("handover: {schedule: nights}", "- {name: all, page: false}",
                      [f"{HANDOVER_LINE}: error: desk 'east': hand-over to unknown schedule 'nights' "
                       "(known: day-shift)"]), id="unknown-schedule"),
    pytest.param(Case("handover: {digest: [pager]}", "- {name: all, page: false}",
                      [f"{HANDOVER_LINE}: error: desk 'east': unknown hand-over channel 'pager' "]),
                 id="unknown-channel"),
    pytest.param(Case("handover: {}", "- {name: high, page: at_opening, escalation_policy: day-desk}", []),
                 id="page-at-opening"),
    pytest.param(Case("handover: {}", "- {name: high, page: at_opening}",
                      [f"{RULE_LINE}: error: rules[high]: rule 'high' pages but names no escalation_policy"]),
                 id="page-at-opening-without-a-policy"),
    pytest.param(Case("handover: {}", "- {name: all, page: false}",
                      ["2: warning: desk 'east': no handover.schedule and no admins"], admins=""),
                 id="nobody-reads-it"),
]


@pytest.mark.parametrize("case", CASES)
def test_the_hand_over_is_checked_with_file_and_line(tmp_path: Path, case: Case) -> None:
    path = tmp_path / "oncall.yaml"
    path.write_text(CONFIG.replace("HANDOVER", case.handover).replace("RULE", case.rule)
                    .replace("ADMINS", case.admins))
    _snapshot, issues = check(tmp_path, now=NOW, horizon=timedelta(days=7))
    found = [str(i) for i in issues if "hand-over" in str(i) or "handover" in str(i) or "rule" in str(i)]
    assert len(case.expected) == len(found), found
    for want, have in zip(case.expected, found, strict=True):
        assert have.startswith(f"{path}:{want}"), (want, have)
