"""Reading untrusted HTTP input: path ids, bounded bodies, JSON bodies.

Every reader here raises :class:`InputError` (an HTTP status and a message naming the
place and the reason) and nothing else, whatever the client sends, so a route never
turns input into a 500. The traps they close:

- ``str.isdigit()`` accepts Unicode digits ("²", "٣") that ``int()`` refuses, and
  ``int()`` refuses strings of more than 4,300 digits: ids are ASCII digits only, and
  their length is checked before converting;
- an id beyond the database integer overflows the driver (PostgreSQL ``integer``):
  such an id cannot name a row, so it is "not found";
- ``json.loads`` raises ``RecursionError`` (not ``ValueError``) on deeply nested arrays;
- a body is read up to a limit, never buffered beyond it.

A bottom-layer module: the web package's routes and those of Twilio's callbacks
(``oncall.notify.inbound``) read their input through it.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

from oncall.errors import OncallError
from oncall.numbers import ascii_int

# The largest value of the incident tables' id column on every backend (PostgreSQL
# ``integer`` is 32 bits; SQLite's 64-bit rowid is larger).
MAX_DB_ID = 2**31 - 1
MAX_JSON_BODY = 64 * 1024  # API actions carry {"as": "alice"}: a few bytes
MAX_JSON_DEPTH = 32
_ECHO = 24  # characters of a bad value quoted back in a message


class InputError(OncallError):
    """The request cannot be served as sent: ``status`` (4xx) and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


def quoted(raw: str) -> str:
    """``raw`` for an error message: repr, cut to a readable length."""
    return repr(raw) if len(raw) <= _ECHO else repr(raw[:_ECHO]) + "…"


def parse_id(raw: str, *, what: str = "incident") -> int:
    """A database id from a path segment: 400 unless ASCII digits naming a positive
    integer, 404 when beyond the database integer (no row can have it)."""
    if not raw or not raw.isascii() or not raw.isdigit():
        raise InputError(400, f"{what} id must be a positive integer, got {quoted(raw)}")
    digits = raw.lstrip("0")
    if not digits:
        raise InputError(400, f"{what} id must be a positive integer, got {quoted(raw)}")
    if len(digits) > len(str(MAX_DB_ID)) or int(digits) > MAX_DB_ID:
        raise InputError(404, f"no {what} #{digits if len(digits) <= _ECHO else digits[:_ECHO] + '…'}")
    return int(digits)


def declared_length(request: Request) -> int | None:
    """The Content-Length header as a number; None when absent; 400 when not a number."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    value = ascii_int(raw)
    if value is None:
        raise InputError(400, f"header Content-Length: not a byte count, got {quoted(raw)}")
    return value


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) more than ``limit`` bytes without buffering the excess."""
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise InputError(413, f"body: larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise InputError(413, f"body: larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise InputError(400, "body: the client went away before sending all of it") from None
    return b"".join(chunks)


def reject_constant(name: str) -> object:
    """``json.loads(parse_constant=...)``: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def too_deep(data: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``data`` nests more than ``limit`` levels (iterative: no stack to exhaust)."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


def parse_json(body: bytes, *, where: str = "body") -> Any:
    """A JSON document from bytes; 400 naming ``where`` and the reason otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(400, f"{where}: not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text, parse_constant=reject_constant)
    except RecursionError:
        raise InputError(400, f"{where}: not valid JSON (nesting too deep)") from None
    except ValueError as exc:  # JSONDecodeError, integers over the digit limit, NaN
        raise InputError(400, f"{where}: not valid JSON ({exc})") from None
    if too_deep(data):
        raise InputError(400, f"{where}: not valid JSON (nesting too deep, over {MAX_JSON_DEPTH} levels)")
    return data


async def read_json(request: Request, *, limit: int = MAX_JSON_BODY, empty: Any = None) -> Any:
    """The request's JSON body (``empty`` when there is none); InputError otherwise."""
    body = await read_body(request, limit)
    if not body.strip():
        return empty
    return parse_json(body)
