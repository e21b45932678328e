"""`oncall schema` describes one configuration file as `oncall check` reads it.

Every file oncall accepts passes the schema, every file it refuses for its shape fails it,
and every field says what it is. Files are read here with oncall's own YAML reader (YAML 1.1),
as the loader reads them; check-jsonschema reads them as YAML 1.2, as editors do.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import typing
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import BaseModel, BeforeValidator

from oncall.config.loader import check, config_files
from oncall.config.schema import SECTION_DESCRIPTIONS, config_file_schema
from oncall.config.sections import list_sections, mapping_sections
from oncall.config.yamlfile import parse_yaml
from oncall.schedules.models import Override
from oncall.schedules.overrides_file import add_override

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.fromisoformat("2026-11-25T12:00:00-05:00")
BASE = ROOT / "examples" / "eastern-emergency"
CONFIG_FILES = [path for directory in (*sorted((ROOT / "examples").iterdir()), ROOT / "schedules")
                if directory.is_dir() for path in config_files(directory)]
README_SNIPPETS = re.findall(r"^```yaml\n(.*?)^```", (ROOT / "README.md").read_text(encoding="utf-8"),
                             re.S | re.M)


@cache
def schema() -> dict[str, Any]:
    return config_file_schema()


@cache
def validator(definition: str | None = None) -> Draft202012Validator:
    """The file schema, or one of its definitions (``Desk``…) as the root."""
    root = schema() if definition is None else {"$ref": f"#/$defs/{definition}", "$defs": schema()["$defs"]}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def read(text: str, name: str = "<test>") -> Any:
    data, issues = parse_yaml(text, name)
    assert [] == issues
    return data


def schema_errors(data: Any, definition: str | None = None) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '<file>'}: {e.message}"
            for e in validator(definition).iter_errors(data)]


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(schema())
    assert "https://json-schema.org/draft/2020-12/schema" == schema()["$schema"]


def test_schema_has_every_section_and_x_keys() -> None:
    assert {*list_sections(), *mapping_sections()} == set(schema()["properties"])
    assert ["^x-"] == list(schema()["patternProperties"])
    assert schema()["additionalProperties"] is False


def test_every_section_has_its_own_description() -> None:
    assert {*list_sections(), *mapping_sections()} == set(SECTION_DESCRIPTIONS)


def _declared_properties(node: Any, path: str = "#", refining: bool = False) -> list[tuple[str, Any]]:
    """Every (path, schema) of a declared object property. Properties repeated inside
    if/then/oneOf only refine one declared beside them, so they are not counted again."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("properties", "patternProperties") and isinstance(value, dict):
                for name, prop in value.items():
                    if not refining:
                        found.append((f"{path}/{key}/{name}", prop))
                    found += _declared_properties(prop, f"{path}/{key}/{name}", refining)
            else:
                found += _declared_properties(value, f"{path}/{key}",
                                              refining or key in ("if", "then", "else", "oneOf", "not"))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += _declared_properties(item, f"{path}/{i}", refining)
    return found


def test_every_property_has_a_description() -> None:
    properties = _declared_properties(schema())
    assert len(properties) > 100
    assert [] == [path for path, prop in properties if not prop.get("description")]


def test_every_default_is_valid_for_its_field() -> None:
    """Defaults are shown by editors; each is written the way a file would write it."""
    defs = schema()["$defs"]
    wrong = []
    for path, prop in _declared_properties(schema()):
        if "default" in prop:
            check_schema = {**prop, "$defs": defs}
            errors = list(Draft202012Validator(check_schema).iter_errors(prop["default"]))
            if errors:
                wrong.append(f"{path}: {prop['default']!r}: {errors[0].message}")
    assert [] == wrong


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[p.relative_to(ROOT).as_posix() for p in CONFIG_FILES])
def test_every_example_file_passes(path: Path) -> None:
    assert [] == schema_errors(read(path.read_text(encoding="utf-8"), str(path)))


@pytest.mark.parametrize("snippet", README_SNIPPETS, ids=[f"README-yaml-{i + 1}" for i in range(len(README_SNIPPETS))])
def test_every_readme_snippet_passes(snippet: str) -> None:
    assert [] == schema_errors(read(snippet))


@pytest.mark.parametrize("snippet", README_SNIPPETS, ids=[f"README-yaml-{i + 1}" for i in range(len(README_SNIPPETS))])
def test_every_readme_snippet_item_is_valid_for_oncall(snippet: str) -> None:
    """The README's snippets are what the models accept too, not only what the schema says."""
    for section, value in read(snippet).items():
        if section in list_sections():
            for item in value:
                list_sections()[section].model_validate(item)
        else:
            mapping_sections()[section].model_validate(value)


def test_readme_shows_how_editors_use_the_schema() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "oncall schema > oncall.schema.json" in text
    assert "# yaml-language-server: $schema=" in text
    assert "yaml.schemas" in text


def test_a_file_written_by_override_add_passes(tmp_path: Path) -> None:
    override = Override(id="ovr-1", schedule="emergency", person="frank", replaces="erin",
                        start=NOW + timedelta(days=1), end=NOW + timedelta(days=2), reason="swap")
    path = add_override(tmp_path, override, existing=(), people_ids={"erin", "frank"},
                        schedule_ids={"emergency"}, now=NOW)
    assert [] == schema_errors(read(path.read_text(encoding="utf-8")))


# --- oncall check and the schema agree -----------------------------------------------------

def _directory(tmp_path: Path, files: dict[str, str]) -> Path:
    """The eastern-emergency example, one file per section, with ``files`` added or replacing."""
    directory = tmp_path / "config"
    directory.mkdir()
    for source in config_files(BASE):
        for section, value in yaml.safe_load(source.read_text(encoding="utf-8")).items():
            (directory / f"{section}.yaml").write_text(yaml.safe_dump({section: value}, sort_keys=False))
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


def _both_verdicts(tmp_path: Path, files: dict[str, str]) -> tuple[list[str], list[str]]:
    directory = _directory(tmp_path, files)
    _, issues = check(directory, now=NOW)
    check_errors = [str(i) for i in issues if i.severity == "error"]
    schema_verdict = [f"{name}: {e}" for name in files
                      for e in schema_errors(read(textwrap.dedent(files[name]), name))]
    return check_errors, schema_verdict


ACCEPTED = [
    pytest.param({"rules.yaml": """
        rules:
          - name: one-value-each
            when: {environment: production, priority: urgent, severity: sev1, category: Outage, status: new,
                   tags: vip, channel: direct, desk: east, desk_state: holiday, event: created}
            page: true
            escalation_policy: emergency
          - {name: rest, page: false}
        """}, id="one-value-shorthands"),
    pytest.param({"more-rules.yaml": """
        rules:
          - name: other-spellings
            when: {priority: [P1, "Level 2 - High", medium, 4], severity: [SEV-1, S2, Level 3, 4, critical],
                   min_priority: high, min_severity: sev2}
            page: "yes"
            escalation_policy: emergency
          - {name: quiet, when: {business_hours: "off", entitled: 1}, page: "no"}
        """}, id="vocabulary-spellings-and-boolean-words"),
    pytest.param({"west.yaml": """
        x-company-days: &company
          - {date: "2026-12-24", name: Christmas Eve}
        x-notes: anything at all, ignored
        desks:
          - id: west
            timezone: America/Los_Angeles
            hours: {mon-fri: "09:00-17:00"}
            closed: *company
        """}, id="x-keys-hold-anchors"),
    pytest.param({"west.yaml": """
        desks:
          - id: west
            timezone: America/Los_Angeles
            hours:
              Monday-Thursday: ["08:00-12:00", "13:00-17:00"]
              fri: {start: "09:00", end: "15:00"}
              sat: "22:00-02:00"
              sun: Closed
            holidays: {country: us, subdiv: CA, only: Christmas Day, observed: yes}
            closed: {date: 2026-12-24}
            half_days: {date: "2026-12-31", hours: "09:00-13:00"}
            emergency_only: [{date: "20261228"}]
        """}, id="desk-hours-and-days-in-every-form"),
    pytest.param({"empty.yaml": "", "nulls.yaml": "overrides:\nplans: ~\n"}, id="empty-file-and-null-sections"),
    pytest.param({"nights.yaml": """
        people:
          - {id: hank, name: Hank, timezone: America/New_York, phone: "+1 202 555 0146", contact_methods: voice}
        schedules:
          - id: nights
            timezone: America/New_York
            layers:
              - participants: hank
                shift: 1d
                handoff_time: 17:00
                start_date: 2026-01-05
                restrictions:
                  - {days: weekdays, from: 17:00, to: "08:00"}
                  - {days: [Saturday, sun], from: "00:00", to: "24:00"}
        """}, id="people-and-schedule-shorthands-and-unquoted-times"),
    pytest.param({"quick.yaml": """
        escalation_policies:
          - id: quick
            steps:
              - {targets: {person: gina}, contact: both, delay: 90}
              - {targets: [{schedule: emergency}, {schedule_members: emergency}], delay: 1h 30m}
            repeat: 2
        """}, id="escalation-shorthands"),
    pytest.param({"notifications.yaml": "notifications: {admins: gina, sms: {min_interval: 90}}\n",
                  "entitlement.yaml": "entitlement: {channels: direct, forbidden_contact_prefixes: support, "
                                      "require_contract: 'no'}\n"}, id="mapping-sections-shorthands"),
    pytest.param({"customers.yaml": """
        customers:
          - {id: initrode, contacts: Ops@Initrode.example, contract: {end: "2027-12-31"}}
          - {id: umbrella, domains: umbrella.example, channel: reseller, max_contacts: 2}
        """}, id="customer-shorthands"),
    pytest.param({"sources.yaml": """
        sources:
          - id: Zendesk
            customer_from: organization_tag:cust_
            severity_from: [custom_field:360001234567, priority]
            environment_from: {kind: tag, arg: env_}
            value_maps:
              severity: {sev_1_outage: SEV-1, 2: sev2}
              environment: {uat: staging}
              customer: {360001: acme}
          - {id: jira, customer_from: "custom_field: customfield_10002", category_from: tag:cat_}
        """}, id="source-rules-in-text-and-object-form"),
]


@pytest.mark.parametrize("files", ACCEPTED)
def test_what_check_accepts_the_schema_accepts(tmp_path: Path, files: dict[str, str]) -> None:
    check_errors, schema_verdict = _both_verdicts(tmp_path, files)
    assert ([], []) == (check_errors, schema_verdict)


def _policy(step: str, *, repeat: str = "0") -> dict[str, str]:
    """A file holding one escalation policy of one step."""
    return {"typo.yaml": f"escalation_policies: [{{id: p, steps: [{step}], repeat: {repeat}}}]\n"}


REFUSED = [
    pytest.param({"typo.yaml": "desk:\n  - {id: x, timezone: UTC, hours: {mon: '09:00-17:00'}}\n"},
                 id="unknown-section"),
    pytest.param({"typo.yaml": "rules: {name: x, page: false}\n"}, id="list-section-as-mapping"),
    pytest.param({"typo.yaml": "desks: east\n"}, id="list-section-as-text"),
    pytest.param({"typo.yaml": "- desks: []\n"}, id="file-is-a-list"),
    pytest.param({"typo.yaml": "rules: [{name: x, pages: false}]\n"}, id="unknown-key-in-an-item"),
    pytest.param({"typo.yaml": "desks: [{id: w, timezone: UTC, hours: {mon: '09:00-17:00'}, x-note: hi}]\n"},
                 id="x-key-inside-an-item"),
    pytest.param({"typo.yaml": "rules: [{name: x, page: maybe}]\n"}, id="wrong-type-boolean"),
    pytest.param({"typo.yaml": "rules: [{name: x, page: true}]\n"}, id="paging-rule-without-policy"),
    pytest.param({"typo.yaml": "rules: [{name: x, when: {desk_state: weekend}, page: false}]\n"},
                 id="unknown-desk-state"),
    pytest.param({"typo.yaml": "rules: [{name: x, when: {priority: urgnt}, page: false}]\n"},
                 id="misspelt-priority"),
    pytest.param({"typo.yaml": "rules: [{name: x, when: {min_priority: P1}, page: false}]\n"},
                 id="min-priority-takes-only-the-canonical-words"),
    pytest.param({"typo.yaml": "rules: [{name: x, when: {environment: prodution}, page: false}]\n"},
                 id="misspelt-environment"),
    pytest.param({"typo.yaml": "rules: [{name: x, when: {event: deleted}, page: false}]\n"}, id="unknown-event"),
    pytest.param(_policy("{targets: {person: gina}, delay: 10 minutes}"), id="duration-in-words"),
    pytest.param(_policy("{targets: {person: gina}, delay: 10ms}"), id="duration-unit-ms"),
    pytest.param(_policy("{targets: {person: gina}, delay: -5}"), id="negative-duration"),
    pytest.param(_policy("{targets: {person: gina, schedule: emergency}}"), id="target-with-two-kinds"),
    pytest.param(_policy("{targets: [{}]}"), id="empty-target"),
    pytest.param(_policy("{targets: []}"), id="step-without-targets"),
    pytest.param(_policy("{targets: {person: gina}}", repeat="-1"), id="negative-repeat"),
    pytest.param(_policy("{targets: {person: gina}, contact: pager}"), id="unknown-contact-mode"),
    pytest.param({"typo.yaml": "desks: [{id: w, timezone: UTC, hours: {mon: '9-5'}}]\n"}, id="window-without-minutes"),
    pytest.param({"typo.yaml": "desks: [{id: w, timezone: UTC, hours: {weekdayz: '09:00-17:00'}}]\n"},
                 id="unknown-day"),
    pytest.param({"typo.yaml": "desks: [{id: w, timezone: UTC, hours: {mon: '09:00-17:00', sat: closed please}}]\n"},
                 id="day-neither-window-nor-closed"),
    pytest.param({"typo.yaml": "desks: [{id: w, timezone: Eastern Time, hours: {mon: '09:00-17:00'}}]\n"},
                 id="time-zone-with-a-space"),
    pytest.param({"typo.yaml": "people: [{id: hank, name: Hank, timezone: UTC, phone: +12025550146}]\n"},
                 id="unquoted-phone-number"),
    pytest.param({"typo.yaml": "people: [{id: hank, name: Hank, timezone: UTC, contact_methods: pager}]\n"},
                 id="unknown-contact-method"),
    pytest.param({"typo.yaml": "people: [{id: Hank Hill, name: Hank, timezone: UTC}]\n"}, id="person-id-with-a-space"),
    pytest.param({"typo.yaml": """
        schedules:
          - id: s
            timezone: UTC
            layers: [{participants: erin, shift: 1d, start_date: "2026-01-05", handoff_time: "25:00"}]
        """}, id="hour-25"),
    pytest.param({"typo.yaml": """
        schedules:
          - id: s
            timezone: UTC
            layers: [{participants: [], shift: 1d, start_date: "2026-01-05"}]
        """}, id="layer-without-participants"),
    pytest.param({"typo.yaml": "schedules: [{id: s, timezone: UTC, layers: []}]\n"}, id="schedule-without-layers"),
    pytest.param({"typo.yaml": """
        schedules:
          - id: s
            timezone: UTC
            layers:
              - participants: erin
                shift: 1d
                start_date: "2026-01-05"
                restrictions: [{days: funday, from: "09:00", to: "17:00"}]
        """}, id="unknown-restriction-day"),
    pytest.param({"typo.yaml": """
        overrides:
          - {id: o, schedule: emergency, person: frank, start: "2026-12-24T17:00:00", end: "2026-12-25T09:00:00-05:00"}
        """}, id="timestamp-without-offset"),
    pytest.param({"typo.yaml": "customers: [{id: x, plan_until: 31/12/2027}]\n"}, id="date-not-iso"),
    pytest.param({"typo.yaml": "customers: [{id: x, contacts: [not-an-email]}]\n"}, id="contact-not-an-email"),
    pytest.param({"typo.yaml": "customers: [{id: x, max_contacts: 0}]\n"}, id="max-contacts-zero"),
    pytest.param({"typo.yaml": "customers: [{id: x, max_contacts: many}]\n"}, id="max-contacts-not-a-number"),
    pytest.param({"typo.yaml": "customers: [{id: x, channel: partner}]\n"}, id="unknown-sales-channel"),
    pytest.param({"typo.yaml": "sources: [{id: zendesk, customer_from: org}]\n"}, id="unknown-source-rule"),
    pytest.param({"typo.yaml": "sources: [{id: zendesk, severity_from: tag}]\n"}, id="source-rule-missing-argument"),
    pytest.param({"typo.yaml": "sources: [{id: zendesk, customer_from: 'organization:acme'}]\n"},
                 id="source-rule-with-unwanted-argument"),
    pytest.param({"typo.yaml": "sources: [{id: zendesk, value_maps: {prio: {a: b}}}]\n"},
                 id="value-map-of-unknown-field"),
    pytest.param({"notifications.yaml": "notifications: {admins: [gina], sms: {min_interval: soon}}\n"},
                 id="mapping-section-bad-duration"),
    pytest.param({"notifications.yaml": "notifications: [gina]\n"}, id="mapping-section-as-list"),
]


@pytest.mark.parametrize("files", REFUSED)
def test_what_check_refuses_for_its_shape_the_schema_refuses(tmp_path: Path, files: dict[str, str]) -> None:
    check_errors, schema_verdict = _both_verdicts(tmp_path, files)
    assert [e for e in check_errors if any(name in e for name in files)], check_errors
    assert schema_verdict


# --- the one-or-many convention -----------------------------------------------------------

# The schema generator reads a before-validator in front of a list as "one item, a list, or
# null". Every such field is listed here with the smallest valid item holding it and one
# item for the list; a new one must be added, which checks that the shorthand holds for it.
MINIMAL: dict[str, dict[str, Any]] = {
    "Desk": {"id": "d", "timezone": "UTC", "hours": {"mon": "09:00-17:00"}},
    "HolidayCalendar": {"country": "US"},
    "Handover": {},
    "HalfDay": {"date": "2026-12-31"},
    "Customer": {"id": "c"},
    "EntitlementPolicy": {},
    "Conditions": {},
    "Person": {"id": "p", "name": "P", "timezone": "UTC"},
    "Restriction": {"from": "09:00", "to": "17:00"},
    "Layer": {"shift": "1d", "start_date": "2026-01-05"},
    "Step": {},
    "NotificationSettings": {},
    "AdminAlertChannels": {},
    "SourceMapping": {"id": "s"},
}
ONE_ITEM: dict[tuple[str, str], Any] = {
    ("Desk", "closed"): {"date": "2026-12-24"},
    ("Desk", "half_days"): {"date": "2026-12-31", "hours": "09:00-13:00"},
    ("Desk", "emergency_only"): {"date": "2026-12-28"},
    ("Handover", "digest"): "email",
    ("HolidayCalendar", "only"): "Christmas Day",
    ("HolidayCalendar", "categories"): "public",
    ("HalfDay", "hours"): "09:00-13:00",
    ("Customer", "contacts"): "ops@acme.example",
    ("Customer", "domains"): "acme.example",
    ("EntitlementPolicy", "channels"): "direct",
    ("EntitlementPolicy", "forbidden_contact_prefixes"): "support",
    ("Conditions", "priority"): "P1",
    ("Conditions", "severity"): "SEV-1",
    ("Conditions", "category"): "Outage",
    ("Conditions", "environment"): "production",
    ("Conditions", "status"): "new",
    ("Conditions", "tags"): "vip",
    ("Conditions", "plan"): "gold",
    ("Conditions", "channel"): "direct",
    ("Conditions", "desk"): "east",
    ("Conditions", "desk_state"): "holiday",
    ("Conditions", "event"): "created",
    ("Person", "contact_methods"): "voice",
    ("Restriction", "days"): "weekdays",
    ("Layer", "participants"): "erin",
    ("Step", "targets"): {"person": "gina"},
    ("NotificationSettings", "admins"): "gina",
    ("AdminAlertChannels", "warning"): "email",
    ("AdminAlertChannels", "critical"): "voice",
    ("SourceMapping", "customer_from"): "organization_tag:cust_",
    ("SourceMapping", "severity_from"): "priority",
    ("SourceMapping", "category_from"): "tag:cat_",
    ("SourceMapping", "environment_from"): "custom_field:123",
}


def _config_models() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp.__name__ not in found:
                found[tp.__name__] = tp
                for field in tp.model_fields.values():
                    visit(field.annotation)
        for arg in typing.get_args(tp):
            visit(arg)

    for model in (*list_sections().values(), *mapping_sections().values()):
        visit(model)
    return found


def _one_or_many_fields() -> set[tuple[str, str]]:
    """Fields whose list is behind a before-validator: the decorator kind or BeforeValidator."""
    fields = set()
    for name, model in _config_models().items():
        decorated = {f for d in model.__pydantic_decorators__.field_validators.values()
                     if d.info.mode == "before" for f in d.info.fields}
        for field_name, field in model.model_fields.items():
            annotation = field.annotation
            lists = [a for a in (annotation, *typing.get_args(annotation)) if typing.get_origin(a) in (tuple, list)]
            before = field_name in decorated or any(isinstance(m, BeforeValidator) for m in field.metadata)
            if lists and before:
                fields.add((name, field_name))
    return fields


def test_every_one_or_many_field_is_listed() -> None:
    assert set(ONE_ITEM) == _one_or_many_fields()


@pytest.mark.parametrize(("model_name", "field"), sorted(ONE_ITEM), ids=[f"{m}.{f}" for m, f in sorted(ONE_ITEM)])
def test_one_item_reads_as_a_list_of_one_in_oncall_and_the_schema(model_name: str, field: str) -> None:
    model = _config_models()[model_name]
    item = ONE_ITEM[(model_name, field)]
    one, many = {**MINIMAL[model_name], field: item}, {**MINIMAL[model_name], field: [item]}
    assert model.model_validate(many) == model.model_validate(one)
    assert ([], []) == (schema_errors(one, model_name), schema_errors(many, model_name))


# --- the command and check-jsonschema ---------------------------------------------------

def test_oncall_schema_prints_the_schema() -> None:
    done = subprocess.run([sys.executable, "-m", "oncall", "schema"], capture_output=True, text=True,
                          timeout=60, check=True)
    assert schema() == json.loads(done.stdout)


def test_check_jsonschema_accepts_examples_and_readme_snippets(tmp_path: Path) -> None:
    """The editor's path: `oncall schema > oncall.schema.json`, files read as YAML 1.2."""
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    schema_file = tmp_path / "oncall.schema.json"
    schema_file.write_text(json.dumps(schema()))
    snippets = []
    for i, snippet in enumerate(README_SNIPPETS):
        snippets.append(tmp_path / f"readme-{i + 1}.yaml")
        snippets[-1].write_text(snippet)
    done = subprocess.run([exe, "--schemafile", str(schema_file), *map(str, CONFIG_FILES), *map(str, snippets)],
                          capture_output=True, text=True, timeout=120)
    assert 0 == done.returncode, done.stdout + done.stderr


def test_check_jsonschema_refuses_a_misspelt_section(tmp_path: Path) -> None:
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    schema_file = tmp_path / "oncall.schema.json"
    schema_file.write_text(json.dumps(schema()))
    bad = tmp_path / "bad.yaml"
    bad.write_text("escalation_policy:\n  - id: x\n")
    done = subprocess.run([exe, "--schemafile", str(schema_file), str(bad)], capture_output=True, text=True,
                          timeout=120)
    assert 1 == done.returncode
    assert "escalation_policy" in done.stdout
