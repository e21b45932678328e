"""The JSON Schema of one configuration file, as the loader reads it (``oncall schema``).

A file is a mapping of sections (every one optional, ``null`` allowed, an empty file too) plus
``x-`` keys the loader ignores; list sections hold items of the section's model. The schema
cannot see other files: duplicate ids, a mapping section defined twice, references between
sections and coverage gaps are ``oncall check``'s to find.

It is generated from the section models in validation mode, so it describes what a file may
*say*, not what the models hold after parsing:

* a before-validator in front of a list is the one-or-many shorthand (``environment:
  production`` for ``[production]``, nothing for ``[]``): such a field also accepts one item or
  ``null``. Validators that read other spellings declare them on their types instead
  (``WithJsonSchema``, ``json_schema_input_type``); a test holds every such field to this;
* a boolean also accepts the words YAML 1.1 reads as booleans (``yes``, ``off``…), which a
  YAML 1.2 reader such as an editor's sees as text;
* field titles are left out (they repeat the key); docstrings are the descriptions.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from oncall.config.sections import list_sections, mapping_sections
from oncall.fields import any_case, format_duration

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

SECTION_DESCRIPTIONS = {
    "desks": "Support desks: time zone, weekly business hours, public holidays and company days.",
    "plans": "Support plans; a plan with after_hours: true includes help outside business hours.",
    "customers": "Customers: serving desk, plan, sales channel, maintenance agreement and authorised "
                 "contacts.",
    "rules": "Paging rules, tried in order (files in name order): the first whose conditions all hold "
             "decides whether a ticket pages, and through which escalation policy.",
    "response_targets": "Response targets: the first whose conditions hold gives a ticket its "
                        "respond-by time.",
    "people": "People who can be paged: phone, e-mail and the order of contact methods.",
    "schedules": "On-call schedules: layers of people taking turns; a later layer wins where it has "
                 "someone on call.",
    "overrides": "Somebody covers a schedule, or one person's slot in it, for a while "
                 "(`oncall override add` writes overrides.yaml).",
    "escalation_policies": "Who is notified, how and after how long, until somebody acknowledges.",
    "sources": "How each ticket source's helpdesk fields become a ticket's customer, severity, "
               "category and environment.",
    "entitlement": "What being entitled to after-hours help requires.",
    "notifications": "Who hears about problems (admins) and how often a person may be texted, "
                     "called or mailed.",
    "customer_replies": "The words of oncall's public replies to customers: a ticket not covered after "
                        "hours, an after-hours page acknowledged.",
}

# pydantic's lax booleans: what YAML 1.1 reads as booleans (yes/no/on/off/true/false in three
# spellings) and what pydantic accepts as text on top of that, in any case.
_BOOLEAN_WORDS = ("true", "false", "yes", "no", "on", "off", "y", "n", "t", "f", "1", "0")


class ConfigJsonSchema(GenerateJsonSchema):
    """pydantic's generator, describing the written forms of configuration values."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        json_schema = super().function_before_schema(schema)
        if self.mode == "validation" and "json_schema_input_schema" not in schema:
            return _one_or_many(json_schema)
        return json_schema

    def bool_schema(self, schema: core_schema.BoolSchema) -> JsonSchemaValue:
        return {"anyOf": [
            {"type": "boolean"},
            {"type": "string", "pattern": f"^{any_case(*_BOOLEAN_WORDS)}$",
             "description": "yes/no, on/off, true/false as text (a YAML 1.2 reader sees YAML 1.1's "
                            "unquoted yes and off as text; oncall reads them as booleans)"},
            {"type": "integer", "enum": [0, 1], "description": "1 is true, 0 is false"},
        ]}

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def encode_default(self, dft: Any) -> Any:
        # Defaults in the form a file would write them ("15m", "09:00"), not ISO 8601's.
        if isinstance(dft, timedelta):
            return format_duration(dft)
        if isinstance(dft, time):
            return dft.strftime("%H:%M")
        if isinstance(dft, BaseModel):
            return dft.model_dump(mode="json", exclude_defaults=True)
        return super().encode_default(dft)


def _one_or_many(json_schema: JsonSchemaValue) -> JsonSchemaValue:
    """A list schema (or a union holding one) that also accepts one item, or null for none."""
    union = "anyOf" in json_schema
    branches = json_schema["anyOf"] if union else [json_schema]
    arrays = [b for b in branches if b.get("type") == "array" and isinstance(b.get("items"), dict)]
    if len(arrays) != 1:
        return json_schema
    array = arrays[0]
    others = [b for b in branches if b is not array and b.get("type") != "null"]
    # one_or_many reads null as no items, which a list needing at least one then refuses
    none = [] if array.get("minItems", 0) else [{"type": "null"}]
    kept = {k: v for k, v in json_schema.items() if k != "anyOf"} if union else {}
    return {"anyOf": [array["items"], array, *others, *none], **kept}


def config_file_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one file of the configuration directory."""
    lists, maps = list_sections(), mapping_sections()
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (model, "validation") for model in (*lists.values(), *maps.values())]
    refs, definitions = models_json_schema(wanted, schema_generator=ConfigJsonSchema)
    properties: dict[str, Any] = {}
    for name, model in lists.items():
        properties[name] = {
            "description": _section_description(name, model) + " A list: the items of every file are "
                                                                 "joined, in file-name order.",
            "type": ["array", "null"],
            "items": refs[(model, "validation")],
        }
    for name, model in maps.items():
        properties[name] = {
            "description": _section_description(name, model) + " A mapping, in one file only.",
            "anyOf": [refs[(model, "validation")], {"type": "null"}],
        }
    schema = {
        "$schema": SCHEMA_DIALECT,
        "title": "oncall configuration file",
        "description": "One YAML file of an oncall configuration directory (every *.yaml and *.yml "
                       "file below it, hidden ones excepted). Each top-level key is a section; keys "
                       "starting with x- are ignored. `oncall check` validates the whole directory.",
        "type": ["object", "null"],
        "properties": properties,
        "patternProperties": {
            "^x-": {"description": "An extension key, ignored by oncall: a place for YAML anchors "
                                   "that several items share (&name … *name)."},
        },
        "additionalProperties": False,
        "$defs": definitions.get("$defs", {}),
    }
    _unwrap_descriptions(schema)
    return schema


def _unwrap_descriptions(node: Any) -> None:
    """Join the lines of a field's docstring (a paragraph break and indented lines stay)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for prop in value.values():
                    if isinstance(prop.get("description"), str):
                        prop["description"] = re.sub(r"(?<=\S)\n(?=\S)", " ", prop["description"])
            _unwrap_descriptions(value)
    elif isinstance(node, list):
        for item in node:
            _unwrap_descriptions(item)


def _section_description(name: str, model: type[BaseModel]) -> str:
    if name in SECTION_DESCRIPTIONS:
        return SECTION_DESCRIPTIONS[name]
    return (model.__doc__ or name).strip().split("\n\n")[0].replace("\n", " ")
