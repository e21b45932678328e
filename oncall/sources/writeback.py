"""Telling the ticket what oncall did: internal notes (and an optional public reply).

Notes are written for: page sent, acknowledged (by whom), escalated, exhausted. A public reply
(for a customer not entitled to after-hours help, text composed by the caller: when the desk
next opens and the response target) is only sent where ``public_replies`` is enabled.

Implementations never raise into the caller: a failed write-back is retried a few times
(transport errors, 429 honouring ``Retry-After``, 5xx), then logged and reported as ``False``.
Paging must never wait on, or fail because of, the helpdesk.

Every source can post its notes to a ``callback_url`` (:class:`CallbackWriteBack`); a kind
whose helpdesk takes notes through its API names its own write-back in its record
(:mod:`oncall.sources.registry`; Zendesk's is in :mod:`oncall.sources.zendesk`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import httpx
import structlog

from oncall.errors import SourceError
from oncall.numbers import ascii_int
from oncall.sources.registry import helpdesk_for
from oncall.sources.settings import SourceSettings
from oncall.sources.signatures import GENERIC_HEADER, sign_generic

log = structlog.get_logger(__name__)

MAX_RETRY_AFTER = 30.0


class NoteKind(StrEnum):
    PAGE_SENT = "page_sent"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    EXHAUSTED = "exhausted"
    PUBLIC_REPLY = "public_reply"


@dataclass(frozen=True, kw_only=True)
class Note:
    source: str
    ticket_id: str
    kind: NoteKind
    text: str
    at: datetime
    public: bool = False


def _when(at: datetime) -> str:
    return at.isoformat(timespec="minutes")


def page_sent_note(source: str, ticket_id: str, *, people: Sequence[str], at: datetime,
                   incident_id: str | None = None, policy: str | None = None) -> Note:
    who = ", ".join(people) or "nobody"
    extra = f" (incident {incident_id}" + (f", policy {policy})" if policy else ")") \
        if incident_id else ""
    return Note(source=source, ticket_id=ticket_id, kind=NoteKind.PAGE_SENT, at=at,
                text=f"oncall paged {who} at {_when(at)}{extra}.")


def acknowledged_note(source: str, ticket_id: str, *, by: str, at: datetime) -> Note:
    return Note(source=source, ticket_id=ticket_id, kind=NoteKind.ACKNOWLEDGED, at=at,
                text=f"oncall: page acknowledged by {by} at {_when(at)}.")


def escalated_note(source: str, ticket_id: str, *, people: Sequence[str], at: datetime,
                   step: int | None = None) -> Note:
    level = f" to step {step}" if step is not None else ""
    return Note(source=source, ticket_id=ticket_id, kind=NoteKind.ESCALATED, at=at,
                text=f"oncall escalated{level} at {_when(at)}: paging "
                     f"{', '.join(people) or 'nobody'}.")


def exhausted_note(source: str, ticket_id: str, *, at: datetime) -> Note:
    return Note(source=source, ticket_id=ticket_id, kind=NoteKind.EXHAUSTED, at=at,
                text=f"oncall: escalation exhausted at {_when(at)} with nobody acknowledging. "
                     "Admins have been alerted.")


def public_reply_note(source: str, ticket_id: str, *, text: str, at: datetime) -> Note:
    """A public reply; ``text`` states when the desk next opens and the response target."""
    return Note(source=source, ticket_id=ticket_id, kind=NoteKind.PUBLIC_REPLY, at=at,
                text=text, public=True)


class WriteBack(Protocol):
    def post(self, note: Note) -> bool:
        """Write ``note`` to the ticket; ``True`` on success. Never raises."""
        ...


def send_with_retries(send: Callable[[], httpx.Response], *, attempts: int,
                      sleep: Callable[[float], None], base_delay: float, what: str) -> bool:
    """Call ``send`` until a 2xx, retrying transport errors, 429 and 5xx; False when it gives up."""
    for attempt in range(1, attempts + 1):
        delay = base_delay * (2 ** (attempt - 1))
        try:
            response = send()
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            if response.is_success:
                return True
            error = f"HTTP {response.status_code}"
            if response.status_code == 429:
                header = response.headers.get("Retry-After", "")
                seconds = ascii_int(header, max_digits=9)
                if seconds is not None:
                    delay = min(float(seconds), MAX_RETRY_AFTER)
            elif response.status_code < 500:
                log.error("writeback.refused", target=what, error=error)
                return False
        if attempt < attempts:
            log.warning("writeback.retry", target=what, error=error, attempt=attempt)
            sleep(delay)
        else:
            log.error("writeback.failed", target=what, error=error, attempts=attempts)
    return False


class HttpWriteBack:
    """Retries and the public-reply switch; subclasses implement :meth:`_send`."""

    def __init__(self, *, client: httpx.Client, allow_public: bool = False, attempts: int = 3,
                 sleep: Callable[[float], None] = time.sleep, base_delay: float = 1.0) -> None:
        self.client = client
        self.allow_public = allow_public
        self.attempts = attempts
        self.sleep = sleep
        self.base_delay = base_delay

    def post(self, note: Note) -> bool:
        if note.public and not self.allow_public:
            log.info("writeback.public_reply_disabled", source=note.source,
                     ticket_id=note.ticket_id)
            return False
        try:
            return send_with_retries(lambda: self._send(note), attempts=self.attempts,
                                     sleep=self.sleep, base_delay=self.base_delay,
                                     what=f"{note.source}:{note.ticket_id}")
        except Exception:  # never crash the paging path over a ticket note
            log.exception("writeback.error", source=note.source, ticket_id=note.ticket_id)
            return False

    def _send(self, note: Note) -> httpx.Response:
        raise NotImplementedError


class CallbackWriteBack(HttpWriteBack):
    """POST the note as JSON to a callback URL, signed like inbound generic webhooks."""

    def __init__(self, *, url: str, secret: str | None, client: httpx.Client,
                 allow_public: bool = False, attempts: int = 3,
                 sleep: Callable[[float], None] = time.sleep, base_delay: float = 1.0) -> None:
        super().__init__(client=client, allow_public=allow_public, attempts=attempts,
                         sleep=sleep, base_delay=base_delay)
        self.url = url
        self.secret = secret

    def _send(self, note: Note) -> httpx.Response:
        body = json.dumps({"source": note.source, "ticket_id": note.ticket_id,
                           "kind": note.kind.value, "text": note.text, "public": note.public,
                           "at": note.at.isoformat()}, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.secret is not None:
            headers[GENERIC_HEADER] = sign_generic(self.secret, body)
        return self.client.post(self.url, content=body, headers=headers)


def writeback_for(source: str, settings: SourceSettings, client: httpx.Client
                  ) -> WriteBack | None:
    """The write-back configured for a source, or ``None`` when it has none."""
    if not settings.write_back:
        return None
    secret = settings.secret.get_secret_value() if settings.secret else None
    if settings.callback_url:
        return CallbackWriteBack(url=settings.callback_url, secret=secret, client=client,
                                 allow_public=settings.allows_public)
    helpdesk = helpdesk_for(source, settings)
    hint = "set callback_url"
    if helpdesk.writeback is not None:
        try:
            return helpdesk.writeback(source, settings, client)
        except SourceError as exc:
            hint += f" ({exc})"
    log.warning("writeback.unconfigured", source=source, hint=hint)
    return None
