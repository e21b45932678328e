"""Whatever is in the configuration directory, ``check`` answers with issues, never a crash.

Three generators: random text, random YAML built from the real section and field names,
and the shipped examples with random edits (which gets far past the first validation,
into snapshot building and the cross-item checks).
"""

from __future__ import annotations

import copy
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from oncall.config.loader import check
from oncall.config.sections import list_sections, mapping_sections
from oncall.errors import ConfigIssue

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SECTIONS = sorted({*list_sections(), *mapping_sections()})
FIELDS = [
    "id", "name", "description", "timezone", "hours", "holidays", "country", "subdiv", "observed", "only",
    "except", "extra", "channel", "channels", "contract", "start", "end", "plan", "plans", "when",
    "priority", "severity", "status", "environment", "entitled", "business_hours", "holiday", "page",
    "escalation_policy", "first_response", "next_response", "clock", "phone", "email", "contact_methods",
    "layers", "participants", "shift", "handoff_time", "start_date", "restrictions", "days", "from", "to",
    "schedule", "person", "replaces", "steps", "targets", "contact", "delay", "repeat", "admins", "desk",
    "customer", "source", "require_contract", "mon-fri", "sat", "sun", "x-anchor",
]
PLAUSIBLE = [
    "America/New_York", "Europe/Berlin", "Mars/Olympus", "UTC", "30m", "2h", "1w", "0s", "-5m", "1h30m",
    "08:00-16:00", "24:00", "25:61", "09:00", "mon-fri", "weekdays", "+14155550101", "555", "2026-01-05",
    "2026-02-29", "2026-03-08T02:30:00-05:00", "2026-11-01T01:30:00", "urgent", "high", "sev1", "production",
    "sms", "voice", "both", "own", "forever", "calendar", "business", "US", "CA", "direct", "reseller",
    "alice", "primary", "emergency", "after-hours", "east", "",
]
NOWS = [
    datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
    datetime(2026, 3, 8, 2, 30, tzinfo=ZoneInfo("America/New_York")),  # in the spring-forward gap
    datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York")),  # repeated hour
    datetime(2028, 2, 29, 23, 59, tzinfo=ZoneInfo("Europe/Berlin")),  # leap day, before midnight
    datetime(2026, 12, 31, 23, 0, tzinfo=ZoneInfo("Pacific/Kiritimati")),
]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(PLAUSIBLE), st.text(max_size=15))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=5),
    max_leaves=20,
)
items = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6)
section_value = st.one_of(st.lists(items, max_size=3), items, scalars)
config_docs = st.dictionaries(
    st.one_of(st.sampled_from(SECTIONS), st.sampled_from(["desk", "x-shared", "Rules"]), st.text(max_size=8)),
    section_value, max_size=5)


def run_check(files: dict[str, str], now: datetime) -> tuple[Any, list[ConfigIssue]]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for name, text in files.items():
            (directory / name).write_text(text, encoding="utf-8")
        snapshot, issues = check(directory, now=now, horizon=timedelta(days=7))
        for issue in issues:
            assert isinstance(issue, ConfigIssue)
            assert issue.file and isinstance(issue.file, str)
            assert issue.message and isinstance(issue.message, str)
            assert issue.line is None or issue.line >= 1
            assert issue.severity in ("error", "warning")
        errors = [i for i in issues if i.severity == "error"]
        if currently_in_test_context():  # see the mix with --hypothesis-show-statistics
            event("accepted" if snapshot is not None else "refused")
        if snapshot is None:
            assert errors, "refused without saying why"
        else:
            assert not errors, "accepted despite errors"
        return snapshot, issues


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@FUZZ
@given(st.text(max_size=300), st.sampled_from(NOWS))
def test_random_text(text: str, now: datetime) -> None:
    run_check({"oncall.yaml": text}, now)


@FUZZ
@given(st.lists(st.sampled_from([*SECTIONS, "-", ":", " ", "\n", "  ", "[", "]", "{", "}", "&a", "*a", "<<:",
                                 "id:", "- id: x", "'", '"', "!!python/object:os.system", "? ", "#", "|", "\t"]),
                max_size=60).map("".join),
       st.sampled_from(NOWS))
def test_yaml_punctuation_soup(text: str, now: datetime) -> None:
    run_check({"oncall.yaml": text}, now)


@FUZZ
@given(st.lists(config_docs, min_size=1, max_size=3), st.sampled_from(NOWS))
def test_random_structures_over_several_files(docs: list[dict[str, Any]], now: datetime) -> None:
    run_check({f"{i:02d}.yaml": dump(doc) for i, doc in enumerate(docs)}, now)


def _example_docs() -> list[list[Any]]:
    return [[yaml.safe_load(p.read_text()) for p in sorted(d.glob("*.yaml"))]
            for d in sorted(EXAMPLES.iterdir()) if d.is_dir() and any(d.glob("*.yaml"))]


EXAMPLE_DOCS = _example_docs()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _mutate(doc: Any, data: st.DataObject) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        path = data.draw(st.sampled_from(_paths(doc)), label="path")
        if not path:
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        op = data.draw(st.sampled_from(["replace", "delete", "duplicate", "add-key"]), label="op")
        if op == "replace":
            parent[key] = data.draw(values, label="value")
        elif op == "delete":
            del parent[key]
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif op == "add-key" and isinstance(parent[key], dict):
            parent[key][data.draw(st.sampled_from(FIELDS), label="new key")] = data.draw(values, label="value")
    return doc


def test_examples_are_accepted_unedited() -> None:
    """The mutation test below starts from configurations that load."""
    for docs in EXAMPLE_DOCS:
        snapshot, _ = run_check({f"{i}.yaml": dump(d) for i, d in enumerate(docs)}, NOWS[0])
        assert snapshot is not None


@FUZZ
@given(st.sampled_from(EXAMPLE_DOCS), st.data(), st.sampled_from(NOWS))
def test_edited_examples(docs: list[Any], data: st.DataObject, now: datetime) -> None:
    edited = [_mutate(doc, data) for doc in docs]
    run_check({f"{i}.yaml": dump(d) for i, d in enumerate(edited)}, now)


def test_control_character_is_reported_with_its_line() -> None:
    """Regression (found by test_random_text): PyYAML's reader raised before parsing began."""
    _, issues = run_check({"oncall.yaml": "desks:\n  - id: a\x1f\n"}, NOWS[0])
    [issue] = issues
    assert 2 == issue.line
    assert "unacceptable character #x001f" in issue.message
    assert issue.file.endswith("oncall.yaml")
