"""Careful reading of untrusted webhook bodies, shared by every parser (pure).

Everything here raises :class:`TicketError` naming the field — never another exception — for
bodies that are not UTF-8, not JSON, nested absurdly deep, or of the wrong shape.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import ValidationError

from oncall.errors import OncallError, TicketError
from oncall.http_input import reject_constant, too_deep
from oncall.tickets import Ticket

MAX_DEPTH = 32
MAX_EVENT_ID = 200


@dataclass(frozen=True, kw_only=True)
class ParsedEvent:
    """One parsed webhook or polled ticket: the ticket and the key that makes retries idempotent."""

    ticket: Ticket
    event_key: str


class IgnoredEvent(OncallError):
    """A well-formed webhook about something oncall does not track (e.g. jira:issue_deleted)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def load_json(body: bytes) -> dict[str, Any]:
    """Decode a webhook body into a JSON object."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TicketError("body", f"not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text, parse_constant=reject_constant)
    except RecursionError:
        raise TicketError("body", f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, huge integers, NaN
        raise TicketError("body", f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise TicketError("body", f"expected a JSON object, got {type(data).__name__}")
    if too_deep(data, MAX_DEPTH):
        raise TicketError("body", f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        # "\ud800" escapes decode to lone surrogates that no store can encode later
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise TicketError("body", "contains an unpaired UTF-16 surrogate escape") from None
    return data


def canonical_key(data: object) -> str:
    """sha256 of the canonical JSON form: a retry of the same body gets the same key."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def event_key(vendor_id: object, data: object) -> str:
    """The vendor's event id when it sent a usable one, else the body hash."""
    if isinstance(vendor_id, (str, int)) and not isinstance(vendor_id, bool):
        text = str(vendor_id).strip()
        if text and len(text) <= MAX_EVENT_ID:
            return "id:" + text
    return canonical_key(data)


def obj(data: Mapping[str, Any], key: str, where: str, *, required: bool = True
        ) -> dict[str, Any]:
    value = data.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise TicketError(f"{where}{key}", "expected a JSON object"
                          if value is not None else "missing")
    return value


def text(value: object, field: str, *, required: bool = False, limit: int = 10_000
         ) -> str | None:
    """A string-ish scalar: strings, numbers; ``""``/``"-"`` (Zendesk's empty placeholder) → None."""
    if value is None:
        if required:
            raise TicketError(field, "missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TicketError(field, f"expected text, got {type(value).__name__}")
    out = str(value).strip()
    if len(out) > limit:
        raise TicketError(field, f"longer than {limit} characters")
    if out in ("", "-"):
        if required:
            raise TicketError(field, "empty")
        return None
    return out


def strings(value: object, field: str, *, separator: str | None = None) -> tuple[str, ...]:
    """Tags: a JSON list of strings, or one string split on ``separator`` (whitespace if None)."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        parts = value.split(separator) if separator else value.split()
        return tuple(p.strip() for p in parts if p.strip())
    if isinstance(value, list):
        out = []
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, (str, int)):
                raise TicketError(f"{field}.{i}", "expected text")
            if str(item).strip():
                out.append(str(item).strip())
        return tuple(out)
    raise TicketError(field, f"expected a list of strings, got {type(value).__name__}")


def timestamp(value: object, field: str, *, required: bool = False) -> datetime | None:
    """ISO-8601 (with offset), RFC 2822, or Unix seconds/milliseconds; naive times refused."""
    if value is None or value == "":
        if required:
            raise TicketError(field, "missing")
        return None
    if isinstance(value, bool):
        raise TicketError(field, "expected a timestamp")
    try:
        if isinstance(value, (int, float)):
            seconds = value / 1000 if value > 10**11 else value
            return datetime.fromtimestamp(seconds, tz=UTC)
        if not isinstance(value, str):
            raise TicketError(field, f"expected a timestamp, got {type(value).__name__}")
        raw = value.strip()
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            try:
                parsed = parsedate_to_datetime(raw)
            except (TypeError, ValueError, IndexError):
                raise TicketError(field, f"not a timestamp: {raw[:60]!r}") from None
    except (OverflowError, OSError, ValueError):
        raise TicketError(field, "timestamp out of range") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise TicketError(field, "timestamp has no time zone offset")
    return parsed


def build_ticket(payload: dict[str, Any], *, where: str = "") -> Ticket:
    """Validate the normalised fields; a failure names the field (prefixed with ``where``)."""
    try:
        return Ticket.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        loc = ".".join(str(p) for p in err["loc"]) or "ticket"
        raise TicketError(f"{where}{loc}", msg) from None


def parsed(ticket: Ticket, vendor_id: object, data: object) -> ParsedEvent:
    return ParsedEvent(ticket=ticket, event_key=event_key(vendor_id, data))
