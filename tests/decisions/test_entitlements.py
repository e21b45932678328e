"""Entitlement to after-hours help: contract window, plan, authorised contact, sales channel."""

from __future__ import annotations

from datetime import date

from oncall.entitlements import Customer, EntitlementPolicy, Plan, evaluate

PLANS = {"ext": Plan(id="ext", after_hours=True), "std": Plan(id="std")}
STRICT = EntitlementPolicy(require_contract=True, require_after_hours_plan=True,
                           require_authorised_contact=True, channels=("direct",))


def customer(**kw: object) -> Customer:
    base: dict[str, object] = {"id": "acme", "plan": "ext", "contract": {"start": "2026-01-01", "end": "2026-12-31"},
                               "contacts": ["ops@acme.example"]}
    base.update(kw)
    return Customer.model_validate(base)


def test_everything_in_order_is_entitled() -> None:
    e = evaluate(STRICT, customer(), PLANS, "OPS@acme.example", date(2026, 6, 1))
    assert e.entitled and e.authorised_contact and e.contract_valid and e.after_hours_plan


def test_contract_end_day_is_inclusive_and_the_next_day_is_expired() -> None:
    assert evaluate(STRICT, customer(), PLANS, "ops@acme.example", date(2026, 12, 31)).entitled
    e = evaluate(STRICT, customer(), PLANS, "ops@acme.example", date(2027, 1, 1))
    assert not e.entitled
    assert "not entitled: maintenance agreement of 'acme' expired 2026-12-31" in e.reasons


def test_contract_not_yet_started() -> None:
    e = evaluate(STRICT, customer(contract={"start": "2027-01-01"}), PLANS, "ops@acme.example", date(2026, 6, 1))
    assert not e.entitled and any("starts 2027-01-01" in r for r in e.reasons)


def test_plan_until_expires_after_hours_help() -> None:
    e = evaluate(STRICT, customer(plan_until="2026-06-30"), PLANS, "ops@acme.example", date(2026, 7, 1))
    assert (False, False) == (e.entitled, e.plan_active)


def test_standard_plan_is_not_after_hours() -> None:
    e = evaluate(STRICT, customer(plan="std"), PLANS, "ops@acme.example", date(2026, 6, 1))
    assert not e.entitled and any("does not include after-hours help" in r for r in e.reasons)


def test_unauthorised_requester_and_missing_requester() -> None:
    assert not evaluate(STRICT, customer(), PLANS, "intern@acme.example", date(2026, 6, 1)).entitled
    e = evaluate(STRICT, customer(), PLANS, None, date(2026, 6, 1))
    assert not e.entitled and any("names no requester" in r for r in e.reasons)


def test_reseller_customers_are_not_entitled_when_only_direct_are() -> None:
    e = evaluate(STRICT, customer(channel="reseller"), PLANS, "ops@acme.example", date(2026, 6, 1))
    assert not e.entitled and any("through a reseller" in r for r in e.reasons)


def test_requirements_not_set_do_not_block() -> None:
    e = evaluate(EntitlementPolicy(), customer(contract=None, plan=None, contacts=[]), PLANS, None, date(2026, 6, 1))
    assert e.entitled and not e.contract_valid


def test_domain_authorisation_when_no_named_contacts() -> None:
    c = customer(contacts=[], domains=["@acme.example"])
    assert evaluate(STRICT, c, PLANS, "anyone@acme.example", date(2026, 6, 1)).entitled
    assert not evaluate(STRICT, c, PLANS, "anyone@evil.example", date(2026, 6, 1)).entitled


def test_unknown_customer() -> None:
    e = evaluate(STRICT, None, PLANS, "ops@acme.example", date(2026, 6, 1), customer_id="ghost")
    assert (False, False) == (e.entitled, e.customer_known)
