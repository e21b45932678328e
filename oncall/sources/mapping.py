"""Apply a :class:`SourceMapping` to what a vendor parser extracted (pure).

Vendor parsers reduce their payload to :class:`VendorFacts`; :func:`mapped_fields` turns those
into the Ticket's customer, severity, category and environment using the configured rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from oncall.config.findings import Finding
from oncall.errors import TicketError
from oncall.sources.settings import FieldRule, RuleKind, SourceMapping
from oncall.tickets import Priority, Severity, parse_environment, parse_severity

T = TypeVar("T")

_PRIORITY_SEVERITY = {
    Priority.URGENT: Severity.SEV1,
    Priority.HIGH: Severity.SEV2,
    Priority.NORMAL: Severity.SEV3,
    Priority.LOW: Severity.SEV4,
    Priority.INFORMATION: Severity.SEV4,
}


@dataclass(frozen=True, kw_only=True)
class VendorFacts:
    """The mapping-relevant parts of one vendor ticket, already type-checked."""

    priority: Priority
    organization: str | None = None
    organization_tags: tuple[str, ...] = ()
    requester: str | None = None
    tags: tuple[str, ...] = ()
    custom_fields: Mapping[str, object] = field(default_factory=dict)


def scalar(value: object) -> str | None:
    """A custom field's value as text: option objects unwrapped, lists → first, blanks → None."""
    for _ in range(4):  # option objects nest at most a couple of levels; never recurse unbounded
        if isinstance(value, Mapping):
            value = next((value[k] for k in ("value", "name", "displayName") if k in value), None)
        elif isinstance(value, (list, tuple)):
            value = value[0] if value else None
        else:
            break
    if value is None or isinstance(value, (Mapping, list, tuple)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        text = str(value).strip()
        return text or None
    return None


def _prefixed(values: Sequence[str], prefix: str) -> str | None:
    lowered = prefix.lower()
    for v in values:
        if v.lower().startswith(lowered) and len(v) > len(prefix):
            return v[len(prefix):]
    return None


def _apply(rule: FieldRule, facts: VendorFacts) -> str | None:
    if rule.kind is RuleKind.ORGANIZATION:
        return facts.organization or None
    if rule.kind is RuleKind.ORGANIZATION_TAG:
        return _prefixed(facts.organization_tags, rule.arg)
    if rule.kind is RuleKind.TAG:
        return _prefixed(facts.tags, rule.arg)
    if rule.kind is RuleKind.CUSTOM_FIELD:
        return scalar(facts.custom_fields.get(rule.arg))
    if rule.kind is RuleKind.REQUESTER_DOMAIN:
        if facts.requester and "@" in facts.requester:
            return facts.requester.rsplit("@", 1)[1].lower() or None
        return None
    if rule.kind is RuleKind.PRIORITY:
        return _PRIORITY_SEVERITY[facts.priority].value
    return None  # pragma: no cover - every kind handled above


def first_value(rules: Sequence[FieldRule], facts: VendorFacts) -> str | None:
    for rule in rules:
        value = _apply(rule, facts)
        if value:
            return value
    return None


def mapped_fields(mapping: SourceMapping, facts: VendorFacts) -> dict[str, Any]:
    """customer/severity/category/environment for the Ticket, plus ``unmapped`` raw values.

    A value that does not parse leaves the field empty and is reported under ``unmapped``
    rather than refusing the ticket: refusing would lose a real emergency over a label.
    """
    out: dict[str, Any] = {}
    unmapped: dict[str, str] = {}
    for name, rules in (("customer", mapping.customer_from), ("category", mapping.category_from)):
        raw = first_value(rules, facts)
        out[name] = mapping.translate(name, raw) if raw else None
    raw_sev = first_value(mapping.severity_from, facts)
    out["severity"] = None
    if raw_sev:
        try:
            out["severity"] = parse_severity(mapping.translate("severity", raw_sev))
        except ValueError:
            unmapped["severity"] = raw_sev
    raw_env = first_value(mapping.environment_from, facts)
    out["environment"] = None
    if raw_env:
        try:
            out["environment"] = parse_environment(mapping.translate("environment", raw_env))
        except ValueError:
            unmapped["environment"] = raw_env
    if unmapped:
        out["unmapped"] = unmapped
    return out


def mapped_enum(raw: str | None, mapping: SourceMapping, name: str, field: str,
                parse: Callable[[str], T]) -> T | None:
    """Translate a core value (priority, status) through ``value_maps`` and parse it.

    Unlike severity, these cannot be left empty: a value that does not parse is a malformed
    ticket and raises :class:`TicketError` naming ``field``.
    """
    if raw is None:
        return None
    try:
        return parse(mapping.translate(name, raw))
    except ValueError as exc:
        raise TicketError(field, str(exc)) from None


def check_source_mappings(mappings: Sequence[SourceMapping]) -> list[Finding]:
    """Cross-item check for the ``sources`` section: each id appears once."""
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    for index, m in enumerate(mappings):
        if m.id in seen:
            findings.append(Finding(
                path=("sources", index, "id"),
                message=f"source {m.id!r} is mapped twice (first at item {seen[m.id] + 1})",
            ))
        else:
            seen[m.id] = index
    return findings
