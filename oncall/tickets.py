"""The normalised Ticket and the vocabularies helpdesks' values map onto.

Every source (generic JSON, Zendesk, Freshdesk, Jira, pollers) produces a
:class:`Ticket`; decisions only ever see this shape.

Helpdesk admins extend vocabularies (Freshdesk custom statuses 6, 7…, Jira workflow statuses
and priorities, custom field options), so a value oncall does not know never refuses a ticket.
The ticket is decided with a fallback and the raw value is kept in ``Ticket.unmapped``
(field → raw text), which is stored with the ticket:

===========  ===============  ==========================================================
field        unknown value →  why
===========  ===============  ==========================================================
status       ``open``         a custom status is one a human still works on: active
priority     ``normal``       neither raised to urgent nor dropped; map it to page on it
severity     unset            as if the helpdesk had not set one
environment  ``unknown``
===========  ===============  ==========================================================

A source's ``value_maps`` translate such values before they are read (``value_maps.status:
{"6": pending}``). The strict ``parse_*`` functions still refuse unknown words: configuration
(rules, ``value_maps`` targets) must name values oncall knows. Only values of the wrong JSON
type (an object where a priority belongs) refuse the ticket, naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from oncall.errors import TicketError
from oncall.fields import any_case
from oncall.numbers import ascii_int


class Priority(StrEnum):
    INFORMATION = "information"
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {
    Priority.INFORMATION: 0,
    Priority.LOW: 1,
    Priority.NORMAL: 2,
    Priority.HIGH: 3,
    Priority.URGENT: 4,
}


class Severity(StrEnum):
    SEV1 = "sev1"
    SEV2 = "sev2"
    SEV3 = "sev3"
    SEV4 = "sev4"

    @property
    def rank(self) -> int:
        """Higher is more severe: sev1 → 4, sev4 → 1."""
        return 5 - int(self.value[-1])


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    WAITING_FOR_SUPPORT = "waiting-for-support"
    SOLVED = "solved"
    CLOSED = "closed"

    @property
    def is_closed(self) -> bool:
        return self in (Status.SOLVED, Status.CLOSED)


class Environment(StrEnum):
    PRODUCTION = "production"
    NON_PRODUCTION = "non-production"
    UNKNOWN = "unknown"


def _squash(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower())


_PRIORITY_WORDS = {
    "information": Priority.INFORMATION,
    "informational": Priority.INFORMATION,
    "info": Priority.INFORMATION,
    "low": Priority.LOW,
    "normal": Priority.NORMAL,
    "medium": Priority.NORMAL,
    "moderate": Priority.NORMAL,
    "high": Priority.HIGH,
    "urgent": Priority.URGENT,
    "critical": Priority.URGENT,
    "highest": Priority.URGENT,
    "lowest": Priority.INFORMATION,
}
# Freshdesk's numeric scale: 1 Low, 2 Medium, 3 High, 4 Urgent.
_PRIORITY_NUMBERS = {1: Priority.LOW, 2: Priority.NORMAL, 3: Priority.HIGH, 4: Priority.URGENT}
# "P1"/"Level 1" scales count down: 1 is the most urgent (some helpdesks start at P0).
_PRIORITY_LEVELS = {
    0: Priority.URGENT,
    1: Priority.URGENT,
    2: Priority.HIGH,
    3: Priority.NORMAL,
    4: Priority.LOW,
    5: Priority.INFORMATION,
}


def parse_priority(value: object) -> Priority:
    """Map a vendor's priority onto :class:`Priority`.

    Accepts the canonical words and synonyms ("medium", "critical"), Freshdesk's
    numbers 1–4 (1 = low … 4 = urgent), "P0"…"P5" and "Level 1 - Urgent" style labels
    (0 and 1 = urgent). Raises ``ValueError`` naming the value otherwise.
    """
    if isinstance(value, Priority):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a priority: {value!r}")
    if isinstance(value, int):
        if value in _PRIORITY_NUMBERS:
            return _PRIORITY_NUMBERS[value]
        raise ValueError(f"numeric priority must be 1–4, got {value}")
    if not isinstance(value, str):
        raise ValueError(f"not a priority: {value!r}")
    text = _squash(value)
    if text in _PRIORITY_WORDS:
        return _PRIORITY_WORDS[text]
    number = ascii_int(text)
    if number in _PRIORITY_NUMBERS:
        return _PRIORITY_NUMBERS[number]
    # "Level 1 - Urgent": the word decides when present
    for word in reversed(text.split(" ")):
        if word in _PRIORITY_WORDS:
            return _PRIORITY_WORDS[word]
    m = re.fullmatch(r"(?:p|priority|level|lvl)\s?([0-5])", text)
    if m:
        return _PRIORITY_LEVELS[int(m.group(1))]
    raise ValueError(
        f"unknown priority {value!r} (expected information, low, normal, high, urgent, "
        "1–4, P1–P5 or 'Level N')"
    )


_SEVERITY_WORDS = {"critical": 1, "urgent": 1, "high": 2, "major": 2, "normal": 3,
                   "medium": 3, "minor": 3, "low": 4}


def parse_severity(value: object) -> Severity:
    """Map "sev1", "SEV-1", "S1", "Level 1", "Severity 1", 1 … onto :class:`Severity`."""
    if isinstance(value, Severity):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a severity: {value!r}")
    if isinstance(value, int):
        if 1 <= value <= 4:
            return Severity(f"sev{value}")
        raise ValueError(f"numeric severity must be 1–4, got {value}")
    if not isinstance(value, str):
        raise ValueError(f"not a severity: {value!r}")
    text = _squash(value)
    m = re.fullmatch(r"(?:sev|severity|s|level|lvl)?\s?([1-4])(?:\s.*)?", text)
    if m:
        return Severity(f"sev{m.group(1)}")
    if text in _SEVERITY_WORDS:
        return Severity(f"sev{_SEVERITY_WORDS[text]}")
    raise ValueError(f"unknown severity {value!r} (expected sev1–sev4, 'SEV-1', 'S1', 'Level 1')")


_STATUS_WORDS = {
    "new": Status.NEW,
    "open": Status.OPEN,
    "reopened": Status.OPEN,
    "in progress": Status.OPEN,
    "pending": Status.PENDING,
    "hold": Status.PENDING,
    "on hold": Status.PENDING,
    "waiting for customer": Status.PENDING,
    "waiting on customer": Status.PENDING,
    "waiting for support": Status.WAITING_FOR_SUPPORT,
    "waiting on support": Status.WAITING_FOR_SUPPORT,
    "solved": Status.SOLVED,
    "resolved": Status.SOLVED,
    "done": Status.SOLVED,
    "closed": Status.CLOSED,
    # Zendesk event webhooks also report these for tickets that are gone from the queue
    "archived": Status.CLOSED,
    "deleted": Status.CLOSED,
    "scrubbed": Status.CLOSED,
}
# Freshdesk: 2 Open, 3 Pending, 4 Resolved, 5 Closed; 6 and up are an admin's custom statuses.
_STATUS_NUMBERS = {2: Status.OPEN, 3: Status.PENDING, 4: Status.SOLVED, 5: Status.CLOSED}


def parse_status(value: object) -> Status:
    """Map a status word or Freshdesk number onto :class:`Status`; ``ValueError`` otherwise."""
    if isinstance(value, Status):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value in _STATUS_NUMBERS:
            return _STATUS_NUMBERS[value]
        raise ValueError(f"numeric status must be 2–5, got {value}")
    if not isinstance(value, str):
        raise ValueError(f"not a status: {value!r}")
    text = _squash(value)
    if text in _STATUS_WORDS:
        return _STATUS_WORDS[text]
    number = ascii_int(text)
    if number in _STATUS_NUMBERS:
        return _STATUS_NUMBERS[number]
    raise ValueError(
        f"unknown status {value!r} (expected new, open, pending, waiting-for-support, "
        "solved, closed)"
    )


_ENV_WORDS = {
    "production": Environment.PRODUCTION,
    "prod": Environment.PRODUCTION,
    "live": Environment.PRODUCTION,
    "non production": Environment.NON_PRODUCTION,
    "nonproduction": Environment.NON_PRODUCTION,
    "nonprod": Environment.NON_PRODUCTION,
    "non prod": Environment.NON_PRODUCTION,
    "staging": Environment.NON_PRODUCTION,
    "production staging": Environment.NON_PRODUCTION,
    "test": Environment.NON_PRODUCTION,
    "testing": Environment.NON_PRODUCTION,
    "development": Environment.NON_PRODUCTION,
    "dev": Environment.NON_PRODUCTION,
    "sandbox": Environment.NON_PRODUCTION,
    "unknown": Environment.UNKNOWN,
    "": Environment.UNKNOWN,
}


def parse_environment(value: object) -> Environment:
    if value is None:
        return Environment.UNKNOWN
    if isinstance(value, Environment):
        return value
    if not isinstance(value, str):
        raise ValueError(f"not an environment: {value!r}")
    text = _squash(value)
    if text in _ENV_WORDS:
        return _ENV_WORDS[text]
    raise ValueError(
        f"unknown environment {value!r} (expected production, non-production, unknown)"
    )


def _one_of(numbers: Any) -> str:
    return "(?:" + "|".join(str(n) for n in sorted(numbers)) + ")"


def spellings_schema(field: str) -> dict[str, Any]:
    """JSON Schema of what ``parse_<field>`` reads, for configuration files that name values.

    The canonical values come first (editors offer them); the patterns follow the parsers
    above, built from the same tables, so a new synonym is accepted by both.
    """
    any_words = r"[\s_-]*"
    canonical: list[StrEnum]
    if field == "priority":
        canonical, words = list(Priority), list(_PRIORITY_WORDS)
        patterns = [rf"^(?:.*[\s_-])?{any_case(*words)}(?:[\s_-].*)?$",  # "Level 1 - Urgent"
                    rf"^\s*0*{_one_of(_PRIORITY_NUMBERS)}\s*$",
                    rf"^\s*{any_case('p', 'priority', 'level', 'lvl')}{any_words}{_one_of(_PRIORITY_LEVELS)}\s*$"]
        numbers: list[int] = sorted(_PRIORITY_NUMBERS)
        hint = "information, low, normal, high, urgent; also medium, critical…, P1, 'Level 1 - Urgent', 1–4"
    elif field == "severity":
        canonical, words = list(Severity), list(_SEVERITY_WORDS)
        patterns = [rf"^\s*{any_case('sev', 'severity', 's', 'level', 'lvl')}?{any_words}[1-4](?:[\s_-].*)?$",
                    rf"^\s*{any_case(*words)}\s*$"]
        numbers = [1, 2, 3, 4]
        hint = "sev1 … sev4; also SEV-1, S1, 'Level 1', 1–4, critical, major…"
    elif field == "status":
        canonical, words = list(Status), list(_STATUS_WORDS)
        patterns = [rf"^\s*{any_case(*words)}\s*$", rf"^\s*0*{_one_of(_STATUS_NUMBERS)}\s*$"]
        numbers = sorted(_STATUS_NUMBERS)
        hint = "new, open, pending, waiting-for-support, solved, closed; also resolved, on hold…"
    elif field == "environment":
        canonical, words = list(Environment), [w for w in _ENV_WORDS if w]  # "" is optional below
        patterns = [rf"^\s*{any_case(*words)}?\s*$"]
        numbers = []
        hint = "production, non-production, unknown; also prod, staging, test…"
    else:
        raise ValueError(f"no spellings for {field!r}")
    branches: list[dict[str, Any]] = [{"type": "string", "enum": [v.value for v in canonical]}]
    branches += [{"type": "string", "pattern": p} for p in patterns]
    if numbers:
        branches.append({"type": "integer", "enum": numbers})
    return {"anyOf": branches, "description": f"a {field}: {hint}"}


MAX_RAW_VALUE = 200

# field → (strict parser, what an unknown value is read as, how that reads in a sentence)
_OPEN_VOCABULARIES: dict[str, tuple[Any, Any, str]] = {
    "status": (parse_status, Status.OPEN, "open"),
    "priority": (parse_priority, Priority.NORMAL, "normal"),
    "severity": (parse_severity, None, "unset"),
    "environment": (parse_environment, Environment.UNKNOWN, "unknown"),
}
OPEN_VOCABULARY_FIELDS = tuple(_OPEN_VOCABULARIES)


def read_value(field: str, value: object) -> tuple[Any, str | None]:
    """Read a status, priority, severity or environment the way a ticket does.

    Returns ``(value, None)`` when it is known, and ``(fallback, raw text)`` when it is a
    text or number oncall does not know (see the module docstring for the fallbacks).
    ``None`` and blank text read as absent: ``(fallback, None)``. Other JSON types
    (objects, lists, booleans) raise ``ValueError``: they are malformed, not new labels.
    """
    parse, fallback, _ = _OPEN_VOCABULARIES[field]
    if value is None or (isinstance(value, str) and not value.strip()):
        return fallback, None
    try:
        return parse(value), None
    except ValueError:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise
        return fallback, str(value).strip()[:MAX_RAW_VALUE]


def reads_as(field: str) -> str:
    """How an unknown value of ``field`` is read, in a word (open, normal, unset, unknown)."""
    return _OPEN_VOCABULARIES[field][2] if field in _OPEN_VOCABULARIES else "unset"


def unmapped_note(field: str, raw: str) -> str:
    """One sentence for ``explain`` and the audit log about a value oncall does not know."""
    return f"{field} {raw!r} is not a known {field}; treated as {reads_as(field)} (add value_maps.{field} to map it)"


class Ticket(BaseModel):
    """A support ticket, normalised from any helpdesk. Unknown keys are kept as extras.

    ``unmapped`` keeps the raw value of every status, priority, severity or environment that
    oncall did not know and read with a fallback (see the module docstring); it is part of
    the stored JSON, so the fact survives storage and shows in ``explain``.
    """

    model_config = ConfigDict(frozen=True, extra="allow", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=200)
    source: str = Field(default="generic", min_length=1, max_length=100)
    subject: str = Field(default="", max_length=10_000)
    priority: Priority = Priority.NORMAL
    severity: Severity | None = None
    status: Status = Status.NEW
    created_at: datetime
    updated_at: datetime | None = None
    customer: str | None = None
    requester: str | None = None
    environment: Environment = Environment.UNKNOWN
    category: str | None = None
    tags: tuple[str, ...] = ()
    unmapped: dict[str, str] = Field(default_factory=dict)
    agent_replied_at: datetime | None = None
    """When support last replied to the customer in public (response clocks)."""
    customer_replied_at: datetime | None = None
    """When the customer last wrote (starts the next-response clock)."""

    @model_validator(mode="before")
    @classmethod
    def _open_vocabularies(cls, data: Any) -> Any:
        """Unknown labels become fallbacks recorded in ``unmapped`` instead of errors."""
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        unmapped = out.get("unmapped")
        if unmapped is None:
            unmapped = {}
        if not isinstance(unmapped, Mapping):
            return out  # the field's own validation names the problem
        record = {str(k): str(v)[:MAX_RAW_VALUE] for k, v in unmapped.items()}
        for name in OPEN_VOCABULARY_FIELDS:
            given = out.get(name)
            if given is None or (isinstance(given, str) and not given.strip()):
                out.pop(name, None)  # absent or blank: the field's default
                continue
            try:
                out[name], raw = read_value(name, given)
            except ValueError:
                continue  # a wrong JSON type: the field validator refuses it, naming the field
            if raw is not None:
                record[name] = raw
        out["unmapped"] = record
        return out

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        return v

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, v: object) -> Priority:
        return parse_priority(v)

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, v: object) -> Severity | None:
        return None if v is None or v == "" else parse_severity(v)

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, v: object) -> Status:
        return parse_status(v)

    @field_validator("environment", mode="before")
    @classmethod
    def _environment(cls, v: object) -> Environment:
        return parse_environment(v)

    @field_validator("requester", mode="before")
    @classmethod
    def _requester(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("created_at", "updated_at", "agent_replied_at", "customer_replied_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and (v.tzinfo is None or v.utcoffset() is None):
            raise ValueError("timestamp must include a time zone offset (e.g. 2026-11-25T03:00:00Z)")
        return v

    @property
    def last_change(self) -> datetime:
        return self.updated_at or self.created_at

    @property
    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def unmapped_notes(self) -> list[str]:
        """A sentence per value oncall did not know, naming its fallback and the fix."""
        return [unmapped_note(field, raw) for field, raw in sorted(self.unmapped.items())]

    def lookups(self) -> list[dict[str, Any]]:
        """How ids in the ticket were turned into names (``lookups`` extra, see
        :func:`lookup_record`); empty for tickets that named everything themselves."""
        found = self.extras.get("lookups")
        return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []

    def notes(self) -> list[str]:
        """What ``explain`` and the incident's audit log say about how the ticket was read."""
        return [lookup_note(r) for r in self.lookups()] + self.unmapped_notes()

    def to_json(self) -> dict[str, Any]:
        """The generic JSON form (the keys of the contract plus extras)."""
        return self.model_dump(mode="json", exclude_none=False)


def lookup_record(what: str, ref: str, *, via: str | None, value: str | None,
                  reason: str | None = None) -> dict[str, Any]:
    """One ``lookups`` entry: ``what`` ``ref`` became ``value`` via ``via`` (``None``: unresolved)."""
    return {"what": what, "id": ref, "via": via, "value": value, "reason": reason}


def lookup_note(record: Mapping[str, Any]) -> str:
    """``organization 360001 resolved via Zendesk API → Acme`` / ``… unresolved (why)``."""
    head = f"{record.get('what', 'value')} {record.get('id', '?')}"
    if record.get("via") and record.get("value") is not None:
        tail = f" ({record['reason']})" if record.get("reason") else ""
        return f"{head} resolved via {record['via']} → {record['value']}{tail}"
    return f"{head} unresolved" + (f" ({record['reason']})" if record.get("reason") else "")


def _field_of(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "ticket"


def parse_ticket(data: object, *, source: str | None = None) -> Ticket:
    """Validate the generic JSON form of a ticket. Raises :class:`TicketError` naming the field."""
    if not isinstance(data, Mapping):
        raise TicketError("ticket", f"expected a JSON object, got {type(data).__name__}")
    payload = dict(data)
    if source is not None and not payload.get("source"):
        payload["source"] = source
    try:
        return Ticket.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise TicketError(_field_of(tuple(err["loc"])), msg) from None


def load_ticket_text(text: str | bytes, *, source: str | None = None) -> Ticket:
    """Parse JSON text into a Ticket; malformed JSON raises :class:`TicketError`."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TicketError("body", f"not valid JSON ({exc})") from None
    return parse_ticket(data, source=source)
