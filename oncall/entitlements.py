"""Customers, plans and entitlement: may this customer have help outside business hours?

Entitlement is a pure function of the configuration, the ticket's customer and
requester, and the local date at the serving desk. Every fact it used is returned
so that ``oncall explain`` can say why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator, model_validator

from oncall.fields import Day, Model, one_or_many
from oncall.findings import Finding

_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SalesChannel(StrEnum):
    DIRECT = "direct"
    RESELLER = "reseller"


class Plan(Model):
    """A support plan. ``after_hours``: the plan includes help outside business hours."""

    id: str = Field(pattern=_ID)
    """The plan's id, named by customers (plan) and rules (when.plan)."""
    name: str = ""
    """A display name."""
    after_hours: bool = False
    """The plan includes help outside business hours (what require_after_hours_plan asks for)."""
    description: str = ""
    """Free text for people reading the configuration."""


class Contract(Model):
    """The maintenance / support agreement, valid from ``start`` to ``end`` inclusive."""

    start: Day | None = None
    """First day of the agreement (the serving desk's local date); absent: no start."""
    end: Day | None = None
    """Last day of the agreement, inclusive; absent: open-ended."""

    @model_validator(mode="after")
    def _order(self) -> Contract:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"contract end {self.end} is before its start {self.start}")
        return self

    def valid_on(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


_CONTACT_SCHEMA = WithJsonSchema({"type": "string", "pattern": r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$",
                                  "description": "an e-mail address"}, mode="validation")


class Customer(Model):
    """A customer: which desk serves it, its plan, channel, agreement and authorised contacts."""

    id: str = Field(pattern=_ID)
    """The customer's id, as tickets name it (after the source's customer_from rules)."""
    name: str = ""
    """A display name."""
    plan: str | None = None
    """The id of the customer's support plan (see plans)."""
    plan_until: Day | None = None
    """Last day the plan is valid, inclusive (e.g. Extended Support bought until this day);
    absent: no end."""
    channel: SalesChannel = SalesChannel.DIRECT
    """How the customer buys support: direct, or through a reseller."""
    contract: Contract | None = None
    """The maintenance agreement; absent: none on file."""
    desk: str | None = None
    """The id of the serving desk; absent: the first desk."""
    contacts: Annotated[tuple[Annotated[str, _CONTACT_SCHEMA], ...], BeforeValidator(one_or_many)] = ()
    """Authorised support contacts' e-mail addresses (any case)."""
    max_contacts: int | None = Field(default=None, ge=1)
    """This customer's limit on named contacts; absent: entitlement.max_contacts."""
    domains: Annotated[tuple[str, ...], BeforeValidator(one_or_many)] = ()
    """E-mail domains whose every address counts as an authorised contact; used only when the
    customer names no contacts."""

    @field_validator("contacts")
    @classmethod
    def _contacts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for c in v:
            if not isinstance(c, str) or not _EMAIL.match(c.strip()):
                raise ValueError(f"contact {c!r} is not an e-mail address")
            out.append(c.strip().lower())
        if len(set(out)) != len(out):
            raise ValueError("a contact is listed twice")
        return tuple(out)

    @field_validator("domains")
    @classmethod
    def _domains(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(d.strip().lower().lstrip("@") for d in v)


class EntitlementPolicy(Model):
    """What "entitled to after-hours help" means for this organisation.

    Every requirement set here must hold; facts not required are still reported.
    """

    require_contract: bool = False
    """The customer must have a maintenance agreement valid on the day."""
    require_after_hours_plan: bool = False
    """The customer's plan must be current and include after-hours help."""
    require_authorised_contact: bool = False
    """The requester must be one of the customer's contacts or domains."""
    channels: Annotated[tuple[SalesChannel, ...], BeforeValidator(one_or_many)] = ()
    """Only customers buying through these channels are entitled; empty: any channel."""
    max_contacts: int | None = Field(default=None, ge=1)
    """At most this many named contacts per customer (checked by `oncall check`)."""
    forbidden_contact_prefixes: Annotated[tuple[str, ...], BeforeValidator(one_or_many)] = ()
    """Local parts of role or list addresses (support, team…) that cannot be named contacts."""


@dataclass(frozen=True, kw_only=True)
class Entitlement:
    """Every fact about the customer that decisions may use, and the verdict."""

    customer_known: bool
    customer: str | None
    plan: str | None
    plan_active: bool
    after_hours_plan: bool
    contract_valid: bool
    authorised_contact: bool
    channel: str | None
    channel_ok: bool
    entitled: bool
    reasons: tuple[str, ...]


def evaluate(
    policy: EntitlementPolicy,
    customer: Customer | None,
    plans: dict[str, Plan],
    requester: str | None,
    today: date,
    customer_id: str | None = None,
) -> Entitlement:
    """Decide entitlement to after-hours help on ``today`` (the desk's local date)."""
    if customer is None:
        who = f"customer {customer_id!r} is not configured" if customer_id else "ticket names no customer"
        return Entitlement(
            customer_known=False, customer=customer_id, plan=None, plan_active=False,
            after_hours_plan=False, contract_valid=False, authorised_contact=False, channel=None,
            channel_ok=False, entitled=False, reasons=(f"not entitled: {who}",),
        )
    reasons: list[str] = []
    failed: list[str] = []

    contract_valid = customer.contract is not None and customer.contract.valid_on(today)
    if customer.contract is None:
        fact = f"customer {customer.id!r} has no maintenance agreement on file"
    elif contract_valid:
        until = f" until {customer.contract.end}" if customer.contract.end else ""
        fact = f"maintenance agreement of {customer.id!r} valid{until}"
    elif customer.contract.end and today > customer.contract.end:
        fact = f"maintenance agreement of {customer.id!r} expired {customer.contract.end}"
    else:
        fact = f"maintenance agreement of {customer.id!r} starts {customer.contract.start}"
    if policy.require_contract:
        (reasons if contract_valid else failed).append(fact)

    plan = plans.get(customer.plan) if customer.plan else None
    plan_active = plan is not None and (customer.plan_until is None or today <= customer.plan_until)
    after_hours_plan = plan_active and plan is not None and plan.after_hours
    if plan is None:
        fact = f"customer {customer.id!r} has no support plan"
    elif not plan_active:
        fact = f"plan {plan.id!r} of {customer.id!r} expired {customer.plan_until}"
    elif plan.after_hours:
        until = f" until {customer.plan_until}" if customer.plan_until else ""
        fact = f"plan {plan.id!r} includes after-hours help{until}"
    else:
        fact = f"plan {plan.id!r} does not include after-hours help"
    if policy.require_after_hours_plan:
        (reasons if after_hours_plan else failed).append(fact)

    email = (requester or "").strip().lower()
    authorised = bool(email) and email in customer.contacts
    if not authorised and customer.domains and not customer.contacts and email:
        authorised = email.rpartition("@")[2] in customer.domains
    if authorised:
        fact = f"requester {email} is an authorised contact"
    elif email:
        fact = f"requester {email} is not an authorised contact of {customer.id!r}"
    else:
        fact = "ticket names no requester"
    if policy.require_authorised_contact:
        (reasons if authorised else failed).append(fact)

    channel_ok = not policy.channels or customer.channel in policy.channels
    if not policy.channels:
        pass
    elif channel_ok:
        reasons.append(f"customer {customer.id!r} bought {_channel_words(customer.channel)}")
    else:
        failed.append(
            f"customer {customer.id!r} bought {_channel_words(customer.channel)}; after-hours help "
            f"is for {', '.join(_channel_words(c) for c in policy.channels)} customers"
        )

    entitled = not failed
    head = "entitled" if entitled else "not entitled"
    if not reasons and not failed:
        reasons.append(f"customer {customer.id!r} is known and no further conditions are configured")
    ordered = tuple(f"{head}: {r}" for r in failed) + tuple(reasons)
    return Entitlement(
        customer_known=True, customer=customer.id, plan=customer.plan, plan_active=plan_active,
        after_hours_plan=after_hours_plan, contract_valid=contract_valid,
        authorised_contact=authorised, channel=customer.channel.value, channel_ok=channel_ok,
        entitled=entitled, reasons=ordered if not entitled else (f"{head}: " + "; ".join(reasons),),
    )


def _channel_words(channel: SalesChannel) -> str:
    return "directly" if channel is SalesChannel.DIRECT else "through a reseller"


def check_customers(
    customers: tuple[Customer, ...],
    plans: tuple[Plan, ...],
    policy: EntitlementPolicy,
    desk_ids: set[str],
) -> list[Finding]:
    """Cross-checks: duplicate ids, unknown plans/desks, too many or role-account contacts."""
    findings: list[Finding] = []
    seen: set[str] = set()
    for i, p in enumerate(plans):
        if p.id in seen:
            findings.append(Finding(path=("plans", i, "id"), message=f"duplicate plan id {p.id!r}"))
        seen.add(p.id)
    plan_ids = {p.id for p in plans}
    seen = set()
    for i, c in enumerate(customers):
        if c.id in seen:
            findings.append(Finding(path=("customers", i, "id"), message=f"duplicate customer id {c.id!r}"))
        seen.add(c.id)
        if c.plan is not None and c.plan not in plan_ids:
            findings.append(Finding(
                path=("customers", i, "plan"),
                message=f"customer {c.id!r}: unknown plan {c.plan!r} (known: {', '.join(sorted(plan_ids)) or 'none'})",
            ))
        if c.desk is not None and c.desk not in desk_ids:
            findings.append(Finding(
                path=("customers", i, "desk"),
                message=f"customer {c.id!r}: unknown desk {c.desk!r} (known: {', '.join(sorted(desk_ids)) or 'none'})",
            ))
        limit = c.max_contacts if c.max_contacts is not None else policy.max_contacts
        if limit is not None and len(c.contacts) > limit:
            findings.append(Finding(
                path=("customers", i, "contacts"),
                message=f"customer {c.id!r} has {len(c.contacts)} authorised contacts; at most "
                        f"{limit} are allowed",
            ))
        for j, contact in enumerate(c.contacts):
            local = contact.partition("@")[0]
            if local in policy.forbidden_contact_prefixes:
                findings.append(Finding(
                    path=("customers", i, "contacts", j),
                    message=f"customer {c.id!r}: contact {contact} looks like a shared or list "
                            "address; authorised contacts must be individuals",
                ))
        if policy.require_authorised_contact and not c.contacts and not c.domains:
            findings.append(Finding(
                path=("customers", i),
                message=f"customer {c.id!r} has no authorised contacts, so none of its tickets "
                        "can be entitled to after-hours help",
                severity="warning",
            ))
    return findings
