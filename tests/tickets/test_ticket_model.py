"""The normalised ticket: vendor vocabularies, required zones, extras, field-named errors."""

from __future__ import annotations

import pytest

from oncall.errors import TicketError
from oncall.tickets import (
    Environment,
    Priority,
    Severity,
    Status,
    load_ticket_text,
    parse_environment,
    parse_priority,
    parse_severity,
    parse_status,
    parse_ticket,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("urgent", Priority.URGENT), ("URGENT", Priority.URGENT), ("High", Priority.HIGH),
    ("medium", Priority.NORMAL), ("normal", Priority.NORMAL), ("low", Priority.LOW),
    ("Information", Priority.INFORMATION),
    (1, Priority.LOW), (2, Priority.NORMAL), (3, Priority.HIGH), (4, Priority.URGENT), ("4", Priority.URGENT),
    ("Level 1 - Urgent", Priority.URGENT), ("Level 2 - High", Priority.HIGH), ("Level 4 - Low", Priority.LOW),
    ("P1", Priority.URGENT), ("p2", Priority.HIGH), ("P3", Priority.NORMAL), ("P5", Priority.INFORMATION),
    ("Highest", Priority.URGENT), ("critical", Priority.URGENT),
])
def test_priority_vocabularies(raw: object, expected: Priority) -> None:
    assert expected == parse_priority(raw)


@pytest.mark.parametrize("raw", ["", "asap", 0, 5, True, None, 2.5, "P9"])
def test_bad_priorities_are_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_priority(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ("sev1", Severity.SEV1), ("SEV-1", Severity.SEV1), ("Sev 2", Severity.SEV2), ("S1", Severity.SEV1),
    ("Level 1", Severity.SEV1), ("Severity 3", Severity.SEV3), (4, Severity.SEV4), ("s4", Severity.SEV4),
    ("Level 2 - High", Severity.SEV2),
])
def test_severity_vocabularies(raw: object, expected: Severity) -> None:
    assert expected == parse_severity(raw)


def test_severity_rank_orders_sev1_highest() -> None:
    assert Severity.SEV1.rank > Severity.SEV2.rank > Severity.SEV4.rank


@pytest.mark.parametrize(("raw", "expected"), [
    ("new", Status.NEW), ("Open", Status.OPEN), ("hold", Status.PENDING), ("Waiting for Support",
     Status.WAITING_FOR_SUPPORT), ("waiting-for-support", Status.WAITING_FOR_SUPPORT), ("resolved", Status.SOLVED),
    (2, Status.OPEN), (3, Status.PENDING), (4, Status.SOLVED), (5, Status.CLOSED),
])
def test_status_vocabularies(raw: object, expected: Status) -> None:
    assert expected == parse_status(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ("production", Environment.PRODUCTION), ("Prod", Environment.PRODUCTION),
    ("staging", Environment.NON_PRODUCTION), ("non-production", Environment.NON_PRODUCTION),
    (None, Environment.UNKNOWN),
])
def test_environment_vocabularies(raw: object, expected: Environment) -> None:
    assert expected == parse_environment(raw)


def test_generic_ticket_keeps_unknown_keys_as_extras() -> None:
    t = parse_ticket({"id": 42, "created_at": "2026-11-25T03:00:00Z", "priority": "P1",
                      "region": "emea", "tags": ["vip"]})
    assert ("42", Priority.URGENT, {"region": "emea"}, ("vip",)) == (t.id, t.priority, t.extras, t.tags)


@pytest.mark.parametrize(("data", "field"), [
    ({"created_at": "2026-11-25T03:00:00Z"}, "id"),
    ({"id": "1"}, "created_at"),
    ({"id": "1", "created_at": "2026-11-25T03:00:00"}, "created_at"),
    ({"id": "1", "created_at": "2026-11-25T03:00:00Z", "updated_at": "yesterday"}, "updated_at"),
    ({"id": "1", "created_at": "2026-11-25T03:00:00Z", "priority": True}, "priority"),
    ({"id": "1", "created_at": "2026-11-25T03:00:00Z", "severity": ["sev1"]}, "severity"),
    ({"id": "1", "created_at": "2026-11-25T03:00:00Z", "status": {"name": "open"}}, "status"),
    ({"id": "1", "created_at": "2026-11-25T03:00:00Z", "environment": False}, "environment"),
    ({"id": "1", "created_at": "2026-11-25T03:00:00Z", "unmapped": "status"}, "unmapped"),
    ({"id": "1", "created_at": "2026-11-25T03:00:00Z", "tags": "vip"}, "tags"),
    ({"id": "", "created_at": "2026-11-25T03:00:00Z"}, "id"),
])
def test_bad_ticket_is_rejected_naming_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(TicketError) as info:
        parse_ticket(data)
    assert field == info.value.field


def test_naive_timestamp_message_explains_the_fix() -> None:
    with pytest.raises(TicketError, match="time zone offset"):
        parse_ticket({"id": "1", "created_at": "2026-11-25T03:00:00"})


@pytest.mark.parametrize("text", [b"", b"{", b"[1,2]", b"\xff\xfe", b"null"])
def test_malformed_json_is_a_ticket_error(text: bytes) -> None:
    with pytest.raises(TicketError):
        load_ticket_text(text)


@pytest.mark.parametrize(("field", "raw", "expected", "kept"), [
    pytest.param("status", 6, Status.OPEN, "6", id="freshdesk-custom-status-number"),
    pytest.param("status", "Awaiting vendor", Status.OPEN, "Awaiting vendor", id="custom-status-name"),
    pytest.param("priority", "asap", Priority.NORMAL, "asap", id="unknown-priority-is-normal"),
    pytest.param("priority", 7, Priority.NORMAL, "7", id="priority-number-out-of-range"),
    pytest.param("severity", "sev9", None, "sev9", id="unknown-severity-is-unset"),
    pytest.param("environment", "moon", Environment.UNKNOWN, "moon", id="unknown-environment"),
])
def test_unknown_label_is_read_with_its_fallback_and_kept(field: str, raw: object, expected: object,
                                                         kept: str) -> None:
    """A label a helpdesk admin added never refuses the ticket: fallback, raw value kept."""
    t = parse_ticket({"id": "1", "created_at": "2026-11-25T03:00:00Z", field: raw})
    assert (expected, {field: kept}) == (getattr(t, field), t.unmapped)


def test_unmapped_values_survive_storage() -> None:
    t = parse_ticket({"id": "1", "created_at": "2026-11-25T03:00:00Z", "status": 6, "priority": "asap"})
    stored = parse_ticket(t.to_json())
    assert (Status.OPEN, {"status": "6", "priority": "asap"}) == (stored.status, stored.unmapped)


def test_unmapped_note_names_fallback_and_fix() -> None:
    t = parse_ticket({"id": "1", "created_at": "2026-11-25T03:00:00Z", "status": 6})
    assert ["status '6' is not a known status; treated as open (add value_maps.status to map it)"] == t.notes()


@pytest.mark.parametrize("raw", ["archived", "deleted", "scrubbed", "DELETED"])
def test_zendesk_statuses_of_tickets_gone_from_the_queue_are_closed(raw: str) -> None:
    assert Status.CLOSED == parse_status(raw)


@pytest.mark.parametrize("raw", ["P0", "p0", "Level 0"])
def test_p0_is_the_most_urgent_priority(raw: str) -> None:
    assert Priority.URGENT == parse_priority(raw)
