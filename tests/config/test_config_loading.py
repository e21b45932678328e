"""Loading a configuration directory: one snapshot or every error with file:line and reason."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from oncall.config.loader import check, load
from oncall.errors import ConfigError

NOW = datetime.fromisoformat("2026-11-25T12:00:00+00:00")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DESK = """\
desks:
  - id: main
    timezone: America/New_York
    hours: {mon-fri: "09:00-17:00"}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def messages(directory: Path) -> list[str]:
    snapshot, issues = check(directory, now=NOW)
    assert snapshot is None
    return [str(i) for i in issues if i.severity == "error"]


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
def test_every_example_loads(name: str) -> None:
    snapshot = load(EXAMPLES / name, now=NOW)
    assert snapshot.desks and snapshot.rules and snapshot.escalation_policies


def test_default_schedules_directory_loads() -> None:
    snapshot = load(Path(__file__).resolve().parents[2] / "schedules", now=NOW)
    assert snapshot.people


def test_minimal_directory_loads(tmp_path: Path) -> None:
    write(tmp_path, "desk.yaml", DESK)
    snapshot = load(tmp_path, now=NOW)
    assert ["main"] == list(snapshot.desks)


def test_unknown_section_is_named_with_its_line_and_a_suggestion(tmp_path: Path) -> None:
    write(tmp_path, "desk.yaml", DESK + "custmers:\n  - id: acme\n")
    [msg] = messages(tmp_path)
    assert msg.startswith(f"{tmp_path / 'desk.yaml'}:5: error: unknown section 'custmers'")
    assert "did you mean 'customers'" in msg


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "desk.yaml", DESK)
    write(tmp_path, "broken.yaml", "customers:\n  - id: acme\n    name: [unclosed\n")
    [msg] = messages(tmp_path)
    assert f"{tmp_path / 'broken.yaml'}:" in msg and "invalid YAML" in msg


def test_bad_value_points_at_the_key(tmp_path: Path) -> None:
    write(tmp_path, "desk.yaml", DESK)
    write(tmp_path, "customers.yaml", """\
        customers:
          - id: acme
            contract:
              start: "2026-01-01"
              end: "2025-01-01"
          - id: globex
            channel: telepathy
        """)
    msgs = messages(tmp_path)
    assert any(":3: error: customers[acme].contract: " in m and "before its start" in m for m in msgs), msgs
    assert any(":7: error: customers[globex].channel: " in m for m in msgs), msgs


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "desk.yaml", DESK)
    write(tmp_path, "c.yaml", "customers:\n  - id: acme\n    colour: blue\n")
    [msg] = messages(tmp_path)
    assert f"{tmp_path / 'c.yaml'}:3: error: customers[acme].colour: unknown key" == msg


def test_cross_reference_errors_name_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "desk.yaml", DESK)
    write(tmp_path, "c.yaml", "customers:\n  - id: acme\n  - id: globex\n    desk: mars\n    plan: gold\n")
    write(tmp_path, "r.yaml", "rules:\n  - name: all\n    page: true\n    escalation_policy: nowhere\n")
    msgs = messages(tmp_path)
    assert any(m.startswith(f"{tmp_path / 'c.yaml'}:4: error:") and "unknown desk 'mars'" in m for m in msgs), msgs
    assert any(m.startswith(f"{tmp_path / 'c.yaml'}:5: error:") and "unknown plan 'gold'" in m for m in msgs), msgs
    assert any(m.startswith(f"{tmp_path / 'r.yaml'}:4: error:") and "unknown escalation policy 'nowhere'" in m
               for m in msgs), msgs


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", DESK)
    write(tmp_path, "b.yaml", "customers:\n  - id: acme\n")
    write(tmp_path, "c.yaml", "customers:\n  - id: other\n  - id: acme\n")
    [msg] = messages(tmp_path)
    assert msg.startswith(f"{tmp_path / 'c.yaml'}:3: error: duplicate customer id 'acme'")


def test_singleton_section_defined_twice(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", DESK + "entitlement: {require_contract: true}\n")
    write(tmp_path, "b.yaml", "entitlement: {channels: [direct]}\n")
    [msg] = messages(tmp_path)
    assert "section 'entitlement' is already defined in" in msg


def test_too_many_authorised_contacts(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", DESK + "entitlement: {max_contacts: 2}\n")
    write(tmp_path, "b.yaml", "customers:\n  - id: acme\n    contacts: [a@x.example, b@x.example, c@x.example]\n")
    [msg] = messages(tmp_path)
    assert "has 3 authorised contacts; at most 2 are allowed" in msg


def test_extension_keys_hold_anchors_and_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "x-hours: &h {mon-fri: \"09:00-17:00\"}\n"
          "desks:\n  - id: a\n    timezone: UTC\n    hours: *h\n")
    assert ["a"] == list(load(tmp_path, now=NOW).desks)


def test_missing_directory_and_empty_directory(tmp_path: Path) -> None:
    assert any("configuration directory does not exist" in m for m in messages(tmp_path / "nope"))
    assert any("no *.yaml files" in m for m in messages(tmp_path))


def test_bad_edit_raises_and_returns_no_snapshot(tmp_path: Path) -> None:
    write(tmp_path, "desk.yaml", DESK)
    good = load(tmp_path, now=NOW)
    write(tmp_path, "desk.yaml", DESK.replace("America/New_York", "Mars/Olympus"))
    with pytest.raises(ConfigError) as info:
        load(tmp_path, now=NOW)
    assert "unknown time zone 'Mars/Olympus'" in str(info.value)
    assert "main" in good.desks  # the earlier snapshot is untouched


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
def test_every_example_has_someone_to_page_for_a_whole_year(name: str) -> None:
    """Every schedule an escalation policy uses covers every instant of the next 365 days."""
    from datetime import timedelta

    snapshot, issues = check(EXAMPLES / name, now=NOW, horizon=timedelta(days=365))
    assert snapshot is not None, [str(i) for i in issues]
    assert [] == [str(i) for i in issues if "nobody on call" in i.message]


def test_a_customer_may_have_its_own_contact_limit(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", DESK + "entitlement: {max_contacts: 4}\n")
    write(tmp_path, "b.yaml",
          "customers:\n  - id: acme\n    max_contacts: 1\n    contacts: [a@x.example, b@x.example]\n"
          "  - id: big\n    contacts: [a@y.example, b@y.example, c@y.example]\n")
    [msg] = messages(tmp_path)
    assert "customer 'acme' has 2 authorised contacts; at most 1 are allowed" in msg
