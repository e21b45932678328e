"""The configuration's top-level sections and the model of each item.

List sections (``desks: [...]``) may be spread over any number of files and are
concatenated in file-name order; mapping sections (``entitlement: {...}``) are
defined once.
"""

from __future__ import annotations

from functools import cache

from oncall.fields import Model


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
    from oncall.customer_replies import CustomerReplies
    from oncall.entitlements import EntitlementPolicy
    from oncall.escalation.policy import NotificationSettings

    return {
        "entitlement": EntitlementPolicy,
        "notifications": NotificationSettings,
        "customer_replies": CustomerReplies,
    }

