"""Apply a :class:`SourceMapping` to what a vendor parser extracted (pure).

Vendor parsers reduce their payload to :class:`VendorFacts`; :func:`mapped_fields` turns those
into the Ticket's customer, severity, category and environment using the configured rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from oncall.findings import Finding
from oncall.sources.settings import FieldRule, RuleKind, SourceMapping
from oncall.tickets import Priority, Severity, read_value

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
    """customer/severity/category/environment for the Ticket, as text after ``value_maps``.

    Severity and environment are read by the Ticket: a value it does not know leaves the
    field at its fallback and is kept in ``Ticket.unmapped`` rather than refusing the ticket
    (refusing would lose a real emergency over a label).
    """
    out: dict[str, Any] = {}
    for name, rules in (("customer", mapping.customer_from), ("category", mapping.category_from),
                        ("severity", mapping.severity_from),
                        ("environment", mapping.environment_from)):
        out[name] = translated(mapping, name, first_value(rules, facts))
    return out


def translated(mapping: SourceMapping, name: str, raw: str | None) -> str | None:
    """``raw`` through ``value_maps[name]``; ``None`` stays ``None``."""
    return mapping.translate(name, raw) if raw else None


def mapped_priority(mapping: SourceMapping, raw: str | None) -> tuple[Priority, str | None]:
    """The priority a vendor's raw value stands for, and the text to hand the Ticket.

    The Ticket records a value it does not know in ``unmapped``; the parsed priority (normal
    for unknown values) feeds the ``priority`` severity rule.
    """
    text = translated(mapping, "priority", raw)
    value, _ = read_value("priority", text)
    return value, text


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
