"""Paging rules and response targets: the page / no-page decision, explained.

``decide(ticket, event, snapshot, now)`` is pure: the configuration snapshot (read through
:class:`DecisionConfig`) and the instant are its only inputs. Only the instant matters, not
the zone ``now`` is given in: time arithmetic is done on instants (real elapsed time) and
results are shown in the serving desk's zone. Rules are tried in order; the first whose
conditions all hold decides. Every reason names the rule or fact that decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from oncall.desks import business_time as desk_hours
from oncall.desks.business_time import DeskState, DeskStatus
from oncall.desks.model import default_desk
from oncall.entitlements import Entitlement
from oncall.entitlements import evaluate as evaluate_entitlement
from oncall.fields import Duration, Model, any_case, one_or_many
from oncall.tickets import (
    Environment,
    Priority,
    Severity,
    Status,
    Ticket,
    parse_priority,
    parse_severity,
    spellings_schema,
)

if TYPE_CHECKING:
    from oncall.desks.model import Desk
    from oncall.entitlements import Customer, EntitlementPolicy, Plan


class TicketEvent(StrEnum):
    CREATED = "created"
    PRIORITY_RAISED = "priority_raised"
    REOPENED = "reopened"
    UPDATED = "updated"


DESK_STATES = tuple(state.value for state in DeskState)  # what when.desk_state may say

Many = BeforeValidator(one_or_many)


def _priorities(v: Any) -> tuple[Priority, ...]:
    return tuple(parse_priority(x) for x in one_or_many(v))


def _severities(v: Any) -> tuple[Severity, ...]:
    return tuple(parse_severity(x) for x in one_or_many(v))


# Schema-only: what a rule may write for one priority, severity or desk state.
_PRIORITY = Annotated[Priority, WithJsonSchema(spellings_schema("priority"), mode="validation")]
_SEVERITY = Annotated[Severity, WithJsonSchema(spellings_schema("severity"), mode="validation")]
_DESK_STATE = Annotated[str, WithJsonSchema({"type": "string", "enum": list(DESK_STATES)}, mode="validation")]


class Conditions(Model):
    """All given conditions must hold; a list means "any of these"."""

    priority: Annotated[tuple[_PRIORITY, ...], BeforeValidator(_priorities)] = ()
    """The ticket's priority is one of these."""
    min_priority: Priority | None = None
    """The ticket's priority is this or more urgent."""
    severity: Annotated[tuple[_SEVERITY, ...], BeforeValidator(_severities)] = ()
    """The ticket's severity is one of these."""
    min_severity: Severity | None = None
    """The ticket's severity is this or worse (sev2: sev1 or sev2)."""
    category: Annotated[tuple[str, ...], Many] = ()
    """The ticket's category is one of these (any case)."""
    environment: Annotated[tuple[Environment, ...], Many] = ()
    """The ticket's environment is one of these."""
    status: Annotated[tuple[Status, ...], Many] = ()
    """The ticket's status is one of these."""
    tags: Annotated[tuple[str, ...], Many] = ()
    """The ticket has at least one of these tags."""
    entitled: bool | None = None
    """The customer is (true) or is not (false) entitled to after-hours help."""
    authorised_contact: bool | None = None
    """The requester is (or is not) an authorised contact of the customer."""
    contract_valid: bool | None = None
    """The customer's maintenance agreement is (or is not) valid on the day."""
    customer_known: bool | None = None
    """The ticket's customer is (or is not) in customers."""
    plan: Annotated[tuple[str, ...], Many] = ()
    """The customer's plan is one of these plan ids."""
    channel: Annotated[tuple[str, ...], Many] = ()
    """The customer's sales channel is one of these: direct, reseller."""
    desk: Annotated[tuple[str, ...], Many] = ()
    """The serving desk is one of these desk ids."""
    desk_state: Annotated[tuple[_DESK_STATE, ...], Many] = ()
    """The serving desk's state is one of these: open, closed, holiday, emergency-only."""
    business_hours: bool | None = None
    """The serving desk is (true) or is not (false) open."""
    event: Annotated[tuple[TicketEvent, ...], Many] = ()
    """What happened to the ticket is one of these."""

    @model_validator(mode="after")
    def _states(self) -> Conditions:
        for s in self.desk_state:
            if s not in DESK_STATES:
                raise ValueError(f"desk_state {s!r} is not one of {', '.join(DESK_STATES)}")
        return self


# A rule that pages (page: true, yes, 1…) must name its escalation policy.
_PAGES_NEEDS_POLICY: dict[str, Any] = {
    "if": {"required": ["page"], "properties": {"page": {"anyOf": [
        {"const": True}, {"const": 1},
        {"type": "string", "pattern": f"^{any_case('true', 'yes', 'on', 'y', 't', '1')}$"},
    ]}}},
    "then": {"required": ["escalation_policy"],
             "properties": {"escalation_policy": {"type": "string", "minLength": 1}}},
}


class Rule(Model):
    """A paging rule: when its conditions all hold, it decides whether the ticket pages."""

    model_config = ConfigDict(json_schema_extra=_PAGES_NEEDS_POLICY)

    name: str = Field(min_length=1)
    """The rule's name, unique; explanations quote it."""
    description: str = ""
    """Free text for people reading the configuration."""
    when: Conditions = Conditions()
    """Conditions that must all hold; none: the rule always applies."""
    page: bool | Literal["at_opening"]
    """Page (true) or do not page (false) when the rule applies; at_opening: do not page now,
    page at the desk's next opening if nobody has touched the ticket by then."""
    escalation_policy: str | None = None
    """The id of the escalation policy to page through; required when page is true or at_opening."""

    @model_validator(mode="after")
    def _policy(self) -> Rule:
        if self.page is not False and not self.escalation_policy:
            raise ValueError(f"rule {self.name!r} pages but names no escalation_policy")
        return self

    @property
    def pages_now(self) -> bool:
        return self.page is True

    @property
    def pages_at_opening(self) -> bool:
        return self.page == "at_opening"


class ResponseClock(StrEnum):
    """How a response target counts time (its ``clock`` field)."""

    BUSINESS = "business"
    CALENDAR = "calendar"  # around the clock


class ResponseTarget(Model):
    """A response target: when its conditions hold, it gives the ticket's respond-by time."""

    name: str = Field(min_length=1)
    """The target's name, unique; explanations quote it."""
    when: Conditions = Conditions()
    """Conditions that must all hold; none: the target always applies."""
    first_response: Duration | None = None
    """Time allowed for the first response; absent: no target."""
    next_response: Duration | None = None
    """Time allowed for each later response; absent: no target."""
    clock: ResponseClock = ResponseClock.BUSINESS
    """business: count the desk's business hours (1d = one standard business day); calendar:
    count around the clock."""
    warn_share: float = Field(default=0.75, gt=0, lt=1)
    """Warn when this share of the target is used without a response (0.75: at 75 %)."""
    warn_after_hours: str | None = None
    """A schedule whose person on call is warned while the desk is closed; absent: the warning
    waits for the desk's opening."""


class DecisionConfig(Protocol):
    """What a decision reads of the configuration; the snapshot (``oncall.config``) is one."""

    @property
    def desks(self) -> Mapping[str, Desk]: ...

    @property
    def plans(self) -> Mapping[str, Plan]: ...

    @property
    def customers(self) -> Mapping[str, Customer]: ...

    @property
    def entitlement(self) -> EntitlementPolicy: ...

    @property
    def rules(self) -> tuple[Rule, ...]: ...

    @property
    def response_targets(self) -> tuple[ResponseTarget, ...]: ...


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What is true of a ticket at an instant; the conditions are tested against this."""

    ticket: Ticket
    event: TicketEvent
    desk: str
    desk_status: DeskStatus
    entitlement: Entitlement


@dataclass(frozen=True, kw_only=True)
class Decision:
    page: bool
    reasons: tuple[str, ...]
    desk: str
    desk_status: DeskStatus
    entitled: bool
    escalation_policy: str | None
    rule: str | None
    respond_by: datetime | None
    response_target: str | None
    next_business_open: datetime
    event: TicketEvent
    at: datetime
    handover_at: datetime | None = None
    """When a ticket that does not page is handed over to the desk: its next opening."""
    page_at_opening: str | None = None
    """The escalation policy to page through at the desk's opening (a rule's page: at_opening)."""

    @property
    def desk_state(self) -> DeskState:
        return self.desk_status.state

    @property
    def business_hours(self) -> bool:
        return self.desk_status.is_open

    @property
    def holiday(self) -> str | None:
        return self.desk_status.holiday

    def to_json(self) -> dict[str, Any]:
        return {
            "page": self.page,
            "reasons": list(self.reasons),
            "desk": self.desk,
            "desk_state": self.desk_state.value,
            "business_hours": self.business_hours,
            "holiday": self.holiday,
            "entitled": self.entitled,
            "escalation_policy": self.escalation_policy,
            "rule": self.rule,
            "respond_by": self.respond_by.isoformat() if self.respond_by else None,
            "response_target": self.response_target,
            "next_business_open": self.next_business_open.isoformat(),
            "event": self.event.value,
            "at": self.at.isoformat(),
            "handover_at": self.handover_at.isoformat() if self.handover_at else None,
            "page_at_opening": self.page_at_opening,
        }


def mismatch(cond: Conditions, f: Facts) -> str | None:
    """The first condition that does not hold, in words; None when all hold."""
    t = f.ticket
    e = f.entitlement
    if cond.priority and t.priority not in cond.priority:
        return f"priority {t.priority} is not {_or(cond.priority)}"
    if cond.min_priority and t.priority.rank < cond.min_priority.rank:
        return f"priority {t.priority} is below {cond.min_priority}"
    if cond.severity and t.severity not in cond.severity:
        return f"severity {t.severity or 'unset'} is not {_or(cond.severity)}"
    if cond.min_severity and (t.severity is None or t.severity.rank < cond.min_severity.rank):
        return f"severity {t.severity or 'unset'} is below {cond.min_severity}"
    if cond.category and (t.category or "").strip().casefold() not in {c.casefold() for c in cond.category}:
        return f"category {t.category or 'unset'!r} is not {_or(cond.category, quote=True)}"
    if cond.environment and t.environment not in cond.environment:
        return f"environment {t.environment} is not {_or(cond.environment)}"
    if cond.status and t.status not in cond.status:
        return f"status {t.status} is not {_or(cond.status)}"
    if cond.tags and not set(cond.tags) & set(t.tags):
        return f"ticket has none of the tags {', '.join(cond.tags)}"
    for name, want, have in (
        ("entitled", cond.entitled, e.entitled),
        ("authorised contact", cond.authorised_contact, e.authorised_contact),
        ("contract valid", cond.contract_valid, e.contract_valid),
        ("customer known", cond.customer_known, e.customer_known),
        ("business hours", cond.business_hours, f.desk_status.is_open),
    ):
        if want is not None and want != have:
            return f"{name} is {str(have).lower()}, rule needs {str(want).lower()}"
    if cond.plan and e.plan not in cond.plan:
        return f"plan {e.plan or 'none'} is not {_or(cond.plan)}"
    if cond.channel and e.channel not in cond.channel:
        return f"channel {e.channel or 'unknown'} is not {_or(cond.channel)}"
    if cond.desk and f.desk not in cond.desk:
        return f"desk {f.desk} is not {_or(cond.desk)}"
    if cond.desk_state and f.desk_status.state not in cond.desk_state:
        return f"desk is {f.desk_status.state}, not {_or(cond.desk_state)}"
    if cond.event and f.event not in cond.event:
        return f"event {f.event} is not {_or(cond.event)}"
    return None


def _or(values: tuple[Any, ...], *, quote: bool = False) -> str:
    words = [repr(str(v)) if quote else str(v) for v in values]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def desk_for(ticket: Ticket, snapshot: DecisionConfig) -> Desk:
    customer = snapshot.customers.get(ticket.customer or "")
    if customer is not None and customer.desk:
        return snapshot.desks[customer.desk]
    return default_desk(snapshot.desks)


def facts_for(ticket: Ticket, event: TicketEvent, snapshot: DecisionConfig, now: datetime) -> Facts:
    desk = desk_for(ticket, snapshot)
    customer = snapshot.customers.get(ticket.customer or "")
    ent = evaluate_entitlement(
        snapshot.entitlement, customer, dict(snapshot.plans), ticket.requester,
        now.astimezone(desk.timezone).date(), customer_id=ticket.customer,
    )
    return Facts(ticket=ticket, event=event, desk=desk.id, desk_status=desk_hours.desk_status(desk, now),
                 entitlement=ent)


def decide(ticket: Ticket, event: TicketEvent, snapshot: DecisionConfig, now: datetime) -> Decision:
    """Must this ticket page now? Pure: reads no clock."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    desk = desk_for(ticket, snapshot)
    f = facts_for(ticket, event, snapshot, now)
    local = now.astimezone(desk.timezone)
    where = f"{local:%a %Y-%m-%d %H:%M} {desk.timezone.key}"
    holiday = f.desk_status.holiday
    state_words = {
        DeskState.OPEN: "open",
        DeskState.CLOSED: "closed (outside business hours)",
        DeskState.HOLIDAY: f"closed for {holiday}",
        DeskState.EMERGENCY_ONLY: f"closed except for emergencies ({holiday})",
    }[f.desk_status.state]
    reasons = [f"desk {desk.id!r} is {state_words} at {where}"]
    page = False
    policy: str | None = None
    rule_name: str | None = None
    at_opening: str | None = None
    if ticket.status.is_closed:
        reasons.append(f"ticket is {ticket.status}: nothing to page for")
    else:
        for rule in snapshot.rules:
            miss = mismatch(rule.when, f)
            if miss is None:
                rule_name = rule.name
                page = rule.pages_now
                policy = rule.escalation_policy if page else None
                verdict = f"page through {policy!r}" if page else "do not page"
                if rule.pages_at_opening and not f.desk_status.is_open:
                    at_opening = rule.escalation_policy
                    verdict = f"do not page now; page through {at_opening!r} at the desk's opening if untouched"
                elif rule.pages_at_opening:
                    verdict = "do not page: the desk is open (page at_opening waits only while it is closed)"
                reasons.append(f"rule {rule.name!r} matched: {verdict}")
                break
            reasons.append(f"rule {rule.name!r} does not apply: {miss}")
        else:
            reasons.append("no rule matched: do not page")
    reasons.extend(f.entitlement.reasons)
    respond_by, target = response_due(f, snapshot, desk, now)
    if target is None:
        reasons.append("no response target applies")
    else:
        reasons.append(f"response target {target.name!r}: respond by {respond_by.isoformat() if respond_by else '-'}")
    next_business_open = desk_hours.next_open(desk, now)
    handover_at = None
    if not page and not f.desk_status.is_open and not ticket.status.is_closed:
        handover_at = next_business_open
        opening = next_business_open.astimezone(desk.timezone)
        reasons.append(f"handed over to the desk at its opening, {opening:%a %Y-%m-%d %H:%M %Z}")
    return Decision(
        page=page, reasons=tuple(reasons), desk=desk.id, desk_status=f.desk_status, entitled=f.entitlement.entitled,
        escalation_policy=policy, rule=rule_name, respond_by=respond_by,
        response_target=target.name if target else None,
        next_business_open=next_business_open, event=event, at=now,
        handover_at=handover_at, page_at_opening=at_opening,
    )


def response_due(
    f: Facts, snapshot: DecisionConfig, desk: Desk, start: datetime, *, first: bool = True
) -> tuple[datetime | None, ResponseTarget | None]:
    """When the first (or next) response is due, and which target set it."""
    for target in snapshot.response_targets:
        if mismatch(target.when, f) is None:
            duration = target.first_response if first else target.next_response
            if duration is None:
                return None, target
            if target.clock is ResponseClock.CALENDAR:
                # Real elapsed time: `+` on a local zone's wall clock would make 1h from
                # 01:30 EDT on a fall-back night end at 02:30 EST, two hours later.
                return (start.astimezone(UTC) + duration).astimezone(desk.timezone), target
            return desk_hours.add_business_time(desk, start, business_duration(desk, duration)), target
    return None, None


def business_duration(desk: Desk, duration: timedelta) -> timedelta:
    """Under a business clock a day means one standard business day of this desk."""
    return duration.days * desk_hours.standard_day(desk) + timedelta(seconds=duration.seconds)


def format_decision(d: Decision) -> str:
    lines = [f"PAGE through {d.escalation_policy}" if d.page else "NO PAGE"]
    lines.append(f"  desk: {d.desk} ({d.desk_state}{', ' + d.holiday if d.holiday else ''})")
    lines.append(f"  entitled: {'yes' if d.entitled else 'no'}")
    lines.append(f"  respond by: {d.respond_by.isoformat() if d.respond_by else '-'}")
    lines.append(f"  next business open: {d.next_business_open.isoformat()}")
    if d.handover_at is not None:
        how = f"page through {d.page_at_opening} if untouched" if d.page_at_opening else "in the morning hand-over"
        lines.append(f"  handed over: {d.handover_at.isoformat()} ({how})")
    lines.append("  because:")
    lines.extend(f"    - {r}" for r in d.reasons)
    return "\n".join(lines)
