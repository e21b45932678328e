"""``POST /webhooks/tickets/{source}``: authenticate, parse, store durably, then answer 202.

Answers (always JSON):

====  ===================================================================================
202   ``{"status": "accepted" | "duplicate" | "ignored", "event_key": …, "ticket_id": …}``
400   malformed body: ``{"error": reason, "field": "ticket.priority"}``
401   signature missing, wrong or stale
403   the source has no secret and is not marked insecure
404   unknown source
413   body larger than the source's ``max_body_bytes``
503   storing failed or the daemon is draining: the helpdesk retries later
====  ===================================================================================

The ticket is handed to the sink (which commits) before the 202; a retry of the same event gets
``duplicate`` and creates nothing new. Bad input never produces a 500. How a source's webhooks
are authenticated and parsed is its kind's record (:mod:`oncall.sources.registry`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from oncall.errors import SignatureError, TicketError
from oncall.interfaces import TicketSink
from oncall.sources.health import SourceHealth
from oncall.sources.payload import IgnoredEvent
from oncall.sources.registry import helpdesk_for
from oncall.sources.settings import SourceMapping, SourceSettings

log = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS = "30"
# Why a webhook was refused, by the status it was answered with (for the metrics).
REFUSALS = {400: "malformed", 401: "signature", 403: "not_configured", 404: "unknown_source",
            413: "too_large", 503: "unavailable"}
UNKNOWN_SOURCE = "unknown"


Mappings = Mapping[str, SourceMapping] | Callable[[], Mapping[str, SourceMapping]]


class BodyTooLarge(Exception):
    pass


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, refusing more than ``limit`` bytes without buffering the excess."""
    declared = request.headers.get("content-length")
    # ASCII only: str.isdigit() also accepts "²", which int() refuses; a length too long to
    # convert is too large anyway
    if declared is not None and declared.isascii() and declared.isdigit() and (
            len(declared) > 18 or int(declared) > limit):
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str, **extra: object) -> JSONResponse:
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def ticket_routes(sink: TicketSink, settings: Mapping[str, SourceSettings], mappings: Mappings,
                  *, clock: Callable[[], datetime], on_accepted: Callable[[], None] | None = None,
                  draining: Callable[[], bool] | None = None,
                  health: SourceHealth | None = None,
                  on_answer: Callable[[str, int], None] | None = None) -> list[Route]:
    """The webhook intake routes.

    ``mappings`` may be a callable so every request sees the current (hot-reloaded) snapshot.
    ``on_accepted`` is called after a new ticket event is stored (e.g. to wake the processor);
    ``health`` records webhook traffic for silence detection; ``on_answer(source, status)``
    hears every answer (source ``"unknown"`` for a name that is not configured).
    """
    by_name = {name.lower(): s for name, s in settings.items()}

    def current_mappings() -> Mapping[str, SourceMapping]:
        return mappings() if callable(mappings) else mappings

    async def receive(request: Request) -> JSONResponse:
        name = str(request.path_params["source"]).lower()
        source_settings = by_name.get(name)
        if source_settings is None:
            return _error(404, f"unknown source {name[:100]!r}", field="source")
        if draining is not None and draining():
            return _error(503, "oncall is shutting down; retry shortly")
        helpdesk = helpdesk_for(name, source_settings)
        secret = source_settings.secret
        if secret is None and not source_settings.insecure:
            return _error(403, f"source {name!r} has no secret configured: set "
                               f"ONCALL_SOURCES__{name.upper()}__SECRET (or mark it insecure)")
        try:
            body = await read_limited(request, source_settings.max_body_bytes)
        except BodyTooLarge:
            return _error(413, f"body larger than {source_settings.max_body_bytes} bytes",
                          field="body")
        now = clock()
        if secret is not None:
            try:
                helpdesk.verify_signature(secret.get_secret_value(), body, request.headers, now=now)
            except SignatureError as exc:
                log.warning("webhook.signature_refused", source=name, reason=str(exc))
                return _error(401, str(exc))
        if health is not None and health.record_traffic(name, now):  # stored every few seconds
            try:
                await run_in_threadpool(health.store, name, "webhook", now)
            except Exception:  # the ticket matters more than the silence monitor's record of it
                log.exception("webhook.activity_not_stored", source=name)
        header = helpdesk.event_id_header
        event_id = request.headers.get(header) if header else None
        try:
            event = helpdesk.parse(body, source=name, mapping=current_mappings().get(name),
                                   received_at=now, event_id=event_id)
        except TicketError as exc:
            log.info("webhook.malformed", source=name, field=exc.field, reason=exc.reason)
            return _error(400, exc.reason, field=exc.field)
        except IgnoredEvent as exc:
            return JSONResponse({"status": "ignored", "reason": exc.reason}, status_code=202)
        except Exception:  # a parser bug must still not turn bad input into a 500
            log.exception("webhook.parser_failed", source=name)
            return _error(400, "unreadable body", field="body")
        try:
            is_new = await run_in_threadpool(sink.accept, name, event.event_key, event.ticket, now)
        except Exception:
            log.exception("webhook.store_failed", source=name, ticket_id=event.ticket.id)
            return _error(503, "could not store the ticket; retry later")
        log.info("webhook.received", source=name, ticket_id=event.ticket.id,
                 event_key=event.event_key, duplicate=not is_new)
        if is_new and on_accepted is not None:
            try:
                on_accepted()
            except Exception:  # stored already; the processor also runs on its own schedule
                log.exception("webhook.on_accepted_failed", source=name)
        return JSONResponse({"status": "accepted" if is_new else "duplicate",
                             "event_key": event.event_key, "ticket_id": event.ticket.id},
                            status_code=202)

    async def answer(request: Request) -> JSONResponse:
        response = await receive(request)
        if on_answer is not None:
            name = str(request.path_params["source"]).lower()
            on_answer(name if name in by_name else UNKNOWN_SOURCE, response.status_code)
        return response

    return [Route("/webhooks/tickets/{source}", answer, methods=["POST"])]
