"""The configuration's top-level sections and the model of each item.

List sections (``desks: [...]``) may be spread over any number of files and are
concatenated in file-name order; mapping sections (``entitlement: {...}``) are
defined once.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from oncall.config.base import Model


@cache
def list_sections() -> dict[str, type[Model]]:
    from oncall.desks.model import Desk
    from oncall.entitlements import Customer, Plan
    from oncall.escalation.policy import EscalationPolicy
    from oncall.rules import ResponseTarget, Rule
    from oncall.schedules.models import Override, Person, Schedule
    from oncall.sources.settings import SourceMapping

    return {
        "desks": Desk,
        "plans": Plan,
        "customers": Customer,
        "rules": Rule,
        "response_targets": ResponseTarget,
        "people": Person,
        "schedules": Schedule,
        "overrides": Override,
        "escalation_policies": EscalationPolicy,
        "sources": SourceMapping,
    }


@cache
def mapping_sections() -> dict[str, type[Model]]:
    from oncall.entitlements import EntitlementPolicy
    from oncall.escalation.policy import NotificationSettings

    return {
        "entitlement": EntitlementPolicy,
        "notifications": NotificationSettings,
    }


def json_schema() -> dict[str, Any]:
    """JSON Schema for one configuration file (every section optional)."""
    from pydantic import create_model

    fields: dict[str, Any] = {name: (list[model] | None, None) for name, model in list_sections().items()}  # type: ignore[valid-type]
    fields.update({name: (model | None, None) for name, model in mapping_sections().items()})
    file_model = create_model("OncallConfigFile", __base__=Model, **fields)
    schema = file_model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "oncall configuration file"
    return schema
