"""Bad input never crashes the ticket parsers: a Ticket, or a TicketError/ValueError naming the problem."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncall.errors import TicketError
from oncall.tickets import (
    Environment,
    Priority,
    Severity,
    Status,
    Ticket,
    load_ticket_text,
    parse_environment,
    parse_priority,
    parse_severity,
    parse_status,
    parse_ticket,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text())
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
# Anything Python code might hand a parser, including what JSON cannot express.
any_values = st.one_of(
    json_values, st.floats(), st.binary(max_size=20), st.tuples(st.integers()), st.sets(st.integers(), max_size=3),
    st.datetimes(), st.sampled_from(list(Priority) + list(Severity) + list(Status) + list(Environment)))

plausible = {
    "id": st.one_of(st.text(max_size=30), st.integers(), st.just("T-1001")),
    "source": st.one_of(st.text(max_size=20), st.sampled_from(["generic", "zendesk", ""])),
    "subject": st.text(max_size=50),
    "priority": st.one_of(st.sampled_from(["urgent", "High", "P1", "Level 2 - High", "4", "medium", "P9"]),
                          st.integers(-2, 8), st.text(max_size=12)),
    "severity": st.one_of(st.sampled_from(["sev1", "SEV-2", "S3", "Severity 4", "critical", "", "sev5"]),
                          st.integers(-1, 6), st.none(), st.text(max_size=12)),
    "status": st.one_of(st.sampled_from(["new", "Open", "on-hold", "waiting_for_support", "5", "x"]),
                        st.integers(0, 7), st.text(max_size=12)),
    "created_at": st.one_of(
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        st.datetimes().map(lambda d: d.isoformat()),
        st.sampled_from(["2026-11-25T03:00:00Z", "2026-11-25", "2026-02-29T00:00:00Z", "24:00", "now"]),
        st.integers(), st.text(max_size=30)),
    "updated_at": st.one_of(st.none(), st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
                            st.text(max_size=30)),
    "customer": st.one_of(st.none(), st.text(max_size=20), st.integers()),
    "requester": st.one_of(st.none(), st.emails(), st.text(max_size=20), st.integers()),
    "environment": st.one_of(st.sampled_from(["prod", "Non-Production", "staging", "", "mars"]),
                             st.none(), st.integers(), st.text(max_size=12)),
    "category": st.one_of(st.none(), st.text(max_size=20)),
    "tags": st.one_of(st.lists(st.text(max_size=10), max_size=4), st.text(max_size=10), json_values),
}
ticket_like = st.fixed_dictionaries(
    {"id": plausible["id"], "created_at": plausible["created_at"]},
    optional={**{k: v for k, v in plausible.items() if k not in ("id", "created_at")},
              "extra_field": json_values},
)


def _parsed_or_rejected(call: Any, *args: Any, **kwargs: Any) -> Ticket | TicketError:
    try:
        ticket = call(*args, **kwargs)
    except TicketError as exc:
        assert exc.field, "a rejection names the field"
        assert exc.reason
        return exc
    assert isinstance(ticket, Ticket)
    assert ticket.created_at.utcoffset() is not None
    if ticket.updated_at is not None:
        assert ticket.updated_at.utcoffset() is not None
    return ticket


@FUZZ
@given(json_values)
def test_parse_ticket_on_any_json_value(value: Any) -> None:
    _parsed_or_rejected(parse_ticket, value)


@FUZZ
@given(ticket_like, st.one_of(st.none(), st.text(max_size=10)))
def test_parse_ticket_on_ticket_shaped_objects(data: dict[str, Any], source: str | None) -> None:
    result = _parsed_or_rejected(parse_ticket, data, source=source)
    if isinstance(result, Ticket):
        # What we accept survives its own JSON form (what the store and the CLI write back).
        assert result == parse_ticket(result.to_json())


@FUZZ
@given(st.binary(max_size=200))
def test_load_ticket_text_on_bytes(raw: bytes) -> None:
    _parsed_or_rejected(load_ticket_text, raw)


@FUZZ
@given(st.text(max_size=200))
def test_load_ticket_text_on_text(text: str) -> None:
    _parsed_or_rejected(load_ticket_text, text)


@FUZZ
@given(st.one_of(ticket_like, json_values))
def test_load_ticket_text_on_encoded_json(value: Any) -> None:
    text = json.dumps(value)
    _parsed_or_rejected(load_ticket_text, text)
    _parsed_or_rejected(load_ticket_text, text.encode("utf-8"))
    _parsed_or_rejected(load_ticket_text, text.encode("utf-16"))


@FUZZ
@given(st.one_of(any_values, plausible["priority"]))
def test_parse_priority(value: Any) -> None:
    try:
        assert isinstance(parse_priority(value), Priority)
    except ValueError as exc:
        assert str(exc)


@FUZZ
@given(st.one_of(any_values, plausible["severity"]))
def test_parse_severity(value: Any) -> None:
    try:
        assert isinstance(parse_severity(value), Severity)
    except ValueError as exc:
        assert str(exc)


@FUZZ
@given(st.one_of(any_values, plausible["status"]))
def test_parse_status(value: Any) -> None:
    try:
        assert isinstance(parse_status(value), Status)
    except ValueError as exc:
        assert str(exc)


@FUZZ
@given(st.one_of(any_values, plausible["environment"]))
def test_parse_environment(value: Any) -> None:
    try:
        assert isinstance(parse_environment(value), Environment)
    except ValueError as exc:
        assert str(exc)


@FUZZ
@given(st.sampled_from(list(Priority)), st.sampled_from([str.upper, str.title, lambda s: f"  {s} "]))
def test_canonical_priority_words_round_trip(priority: Priority, spell: Any) -> None:
    assert priority == parse_priority(spell(priority.value))
