"""Writing and removing overrides in reviewable YAML files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from oncall.errors import ScheduleError
from oncall.schedules import Override, add_override, list_overrides, remove_override
from oncall.schedules.overrides_file import new_override_id

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=LA)
PEOPLE = {"alice", "bob", "dave"}
SCHEDULES = {"primary", "secondary"}


def la(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LA)


def ovr(ident: str, start: str, end: str, person: str = "dave", replaces: str | None = None,
        schedule: str = "primary", reason: str | None = None) -> Override:
    return Override(id=ident, schedule=schedule, person=person, replaces=replaces,
                    start=la(start), end=la(end), reason=reason)


def add(config_dir: Path, o: Override, existing: tuple[Override, ...] = ()) -> Path:
    return add_override(config_dir, o, existing=existing, people_ids=PEOPLE,
                        schedule_ids=SCHEDULES, now=NOW)


def loaded(path: Path) -> list[Override]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return [Override.model_validate(item) for item in data["overrides"] or []]


XMAS = ovr("ovr-2026-12-24-dave", "2026-12-24T17:00", "2026-12-26T09:00", replaces="alice",
           reason="holiday swap: yes")


def test_add_creates_overrides_file_that_loads_back(tmp_path: Path) -> None:
    path = add(tmp_path, XMAS)
    assert path == tmp_path / "overrides.yaml"
    assert loaded(path) == [XMAS]
    assert path.read_text().startswith("#")


def test_add_keeps_comments_and_other_entries(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("# team overrides\noverrides:\n- id: old  # keep me\n  schedule: primary\n"
                    "  person: bob\n  start: 2026-12-10T00:00:00-08:00\n"
                    "  end: 2026-12-11T00:00:00-08:00\n")
    add(tmp_path, XMAS)
    text = path.read_text()
    assert "# team overrides" in text and "# keep me" in text
    assert [o.id for o in loaded(path)] == ["old", XMAS.id]


def test_add_after_overrides_section_followed_by_another_section(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("overrides:\n  - id: old\n    schedule: primary\n    person: bob\n"
                    "    start: '2026-12-10T00:00:00-08:00'\n    end: '2026-12-11T00:00:00-08:00'\n"
                    "\n# people next\npeople: []\n")
    add(tmp_path, XMAS)
    data = yaml.safe_load(path.read_text())
    assert [o["id"] for o in data["overrides"]] == ["old", XMAS.id]
    assert data["people"] == []
    text = path.read_text()
    assert text.index(XMAS.id) < text.index("# people next")


@pytest.mark.parametrize("initial", ["overrides: []\n", "overrides:\n", "", "people: []\n",
                                     "overrides: [{id: a, schedule: primary, person: bob, "
                                     "start: '2026-12-10T00:00:00-08:00', "
                                     "end: '2026-12-11T00:00:00-08:00'}]\n"])
def test_add_handles_every_starting_layout(tmp_path: Path, initial: str) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text(initial)
    add(tmp_path, XMAS)
    assert loaded(path)[-1] == XMAS


REFUSALS = [
    ("overlap", ovr("n", "2026-12-25T00:00", "2026-12-27T00:00", person="bob", replaces="alice"),
     "overlaps override 'ovr-2026-12-24-dave'"),
    ("unknown person", ovr("n", "2026-12-20T00:00", "2026-12-21T00:00", person="zed"),
     "unknown person 'zed'"),
    ("unknown replaced", ovr("n", "2026-12-20T00:00", "2026-12-21T00:00", replaces="zed"),
     "unknown replaced person 'zed'"),
    ("unknown schedule", ovr("n", "2026-12-20T00:00", "2026-12-21T00:00", schedule="nope"),
     "unknown schedule 'nope'"),
    ("past", ovr("n", "2026-11-20T00:00", "2026-11-21T00:00"), "ended in the past"),
    ("backwards", ovr("n", "2026-12-21T00:00", "2026-12-20T00:00"), "before it starts"),
    ("duplicate id", ovr(XMAS.id, "2027-01-05T00:00", "2027-01-06T00:00"), "already exists"),
]


@pytest.mark.parametrize(("name", "candidate", "message"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_add_refuses(tmp_path: Path, name: str, candidate: Override, message: str) -> None:
    add(tmp_path, XMAS)
    before = (tmp_path / "overrides.yaml").read_text()
    with pytest.raises(ScheduleError, match=message):
        add(tmp_path, candidate, existing=(XMAS,))
    assert (tmp_path / "overrides.yaml").read_text() == before


def test_add_allows_other_slot_at_same_time(tmp_path: Path) -> None:
    other = ovr("n", "2026-12-25T00:00", "2026-12-27T00:00", person="alice", replaces="bob")
    add(tmp_path, other, existing=(XMAS,))
    assert loaded(tmp_path / "overrides.yaml") == [other]


def test_remove_cuts_exactly_one_entry(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("# keep this header\noverrides:\n  - id: a\n    schedule: primary\n"
                    "    person: bob\n    start: '2026-12-10T00:00:00-08:00'\n"
                    "    end: '2026-12-11T00:00:00-08:00'\n  # about b\n  - id: b\n"
                    "    schedule: primary\n    person: bob\n"
                    "    start: '2026-12-12T00:00:00-08:00'\n    end: '2026-12-13T00:00:00-08:00'\n"
                    "people: []\n")
    assert remove_override(tmp_path, "a") == path
    assert [o.id for o in loaded(path)] == ["b"]
    assert "# keep this header" in path.read_text()
    assert "# about b" in path.read_text()
    remove_override(tmp_path, "b")
    assert yaml.safe_load(path.read_text()) == {"overrides": [], "people": []}


def test_remove_finds_override_in_another_file(tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()
    other = tmp_path / "team" / "extra.yml"
    add(tmp_path, XMAS)
    other.write_text("overrides:\n  - {id: x, schedule: primary, person: bob, "
                     "start: '2026-12-10T00:00:00-08:00', end: '2026-12-11T00:00:00-08:00'}\n")
    assert remove_override(tmp_path, "x") == other
    assert yaml.safe_load(other.read_text())["overrides"] == []
    assert loaded(tmp_path / "overrides.yaml") == [XMAS]


def test_remove_unknown_id_is_an_actionable_error(tmp_path: Path) -> None:
    add(tmp_path, XMAS)
    with pytest.raises(ScheduleError, match=r"no override with id 'nope'.*oncall override list"):
        remove_override(tmp_path, "nope")


def test_list_overrides_filters_and_sorts() -> None:
    a = ovr("a", "2026-12-20T00:00", "2026-12-21T00:00")
    b = ovr("b", "2026-12-10T00:00", "2026-12-11T00:00", schedule="secondary")
    c = ovr("c", "2026-11-10T00:00", "2026-11-11T00:00")
    assert [o.id for o in list_overrides((a, b, c))] == ["c", "b", "a"]
    assert [o.id for o in list_overrides((a, b, c), schedule="primary", after=NOW)] == ["a"]


def test_new_override_id_is_local_date_and_unique() -> None:
    start = datetime.fromisoformat("2026-12-25T06:00:00+00:00")  # still the 24th in LA
    assert new_override_id(start, "dave", LA, set()) == "ovr-2026-12-24-dave"
    assert new_override_id(start, "dave", LA, {"ovr-2026-12-24-dave"}) == "ovr-2026-12-24-dave-2"
