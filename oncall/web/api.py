"""The HTTP API (incidents: list, show, ack, escalate, resolve) and calendar feeds.

API calls need ``Authorization: Bearer <ONCALL_API_TOKEN>``; without a configured
token the API is off (403). Calendar feeds cannot send headers (phones subscribe to
a URL), so each feed URL carries its own token: an HMAC of the feed's name keyed
with the API token (``oncall feed-url`` prints them).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oncall.config.snapshot import Snapshot
from oncall.errors import IncidentError, NoSuchIncident, UnknownActor
from oncall.http_input import InputError, parse_id, quoted, read_json
from oncall.incidents.service import IncidentService
from oncall.schedules.ics import shifts_ics

FEED_PAST = timedelta(days=7)
FEED_FUTURE = timedelta(days=90)


def feed_token(api_token: str, kind: str, ident: str) -> str:
    return hmac.new(api_token.encode(), f"{kind}:{ident}".encode(), hashlib.sha256).hexdigest()[:32]


def api_routes(service: IncidentService, snapshot: Callable[[], Snapshot], *, api_token: str | None,
               clock: Callable[[], datetime]) -> list[Route]:
    def authorised(request: Request) -> JSONResponse | None:
        if not api_token:
            return JSONResponse({"error": "the HTTP API is disabled: set ONCALL_API_TOKEN"}, status_code=403)
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {api_token}".encode()):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        return None

    def incident_id(request: Request) -> int | JSONResponse:
        try:
            return parse_id(request.path_params["incident_id"])
        except InputError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)

    async def list_incidents(request: Request) -> Response:
        if (denied := authorised(request)) is not None:
            return denied
        open_only = request.query_params.get("open", "").lower() in ("1", "true", "yes")
        return JSONResponse([i.to_json() for i in service.list(open_only=open_only)])

    async def show(request: Request) -> Response:
        if (denied := authorised(request)) is not None:
            return denied
        ident = incident_id(request)
        if isinstance(ident, JSONResponse):
            return ident
        try:
            inc = service.get(ident)
        except IncidentError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        body: dict[str, Any] = inc.to_json()
        body["audit"] = [a.to_json() for a in service.audit(ident)]
        return JSONResponse(body)

    async def act(request: Request) -> Response:
        if (denied := authorised(request)) is not None:
            return denied
        ident = incident_id(request)
        if isinstance(ident, JSONResponse):
            return ident
        action = request.path_params["action"]
        run = {"ack": service.ack, "escalate": service.escalate, "resolve": service.resolve}.get(action)
        if run is None:
            return JSONResponse({"error": f"unknown action {quoted(action)}: ack, escalate or resolve"},
                                status_code=404)
        try:
            payload = await read_json(request, empty={})
        except InputError as exc:
            hint = ", e.g. {\"as\": \"alice\"}" if exc.status == 400 else ""
            return JSONResponse({"error": exc.message + hint}, status_code=exc.status)
        actor = payload.get("as") if isinstance(payload, dict) else None
        if not isinstance(actor, str) or not actor:
            return JSONResponse({"error": "field 'as': name the person acting"}, status_code=422)
        try:
            inc = run(ident, actor, clock(), "api")
        except NoSuchIncident as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except UnknownActor as exc:
            return JSONResponse({"error": f"field 'as': {exc}"}, status_code=422)
        except IncidentError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse(inc.to_json())

    async def feed(request: Request) -> Response:
        kind, ident = request.path_params["kind"], request.path_params["ident"]
        if not api_token:
            return JSONResponse({"error": "calendar feeds are disabled: set ONCALL_API_TOKEN"}, status_code=403)
        token = request.query_params.get("token", "")
        if kind not in ("person", "schedule") or not hmac.compare_digest(
                token.encode(), feed_token(api_token, kind, ident).encode()):
            return JSONResponse({"error": "unknown feed or wrong token"}, status_code=404)
        snap = snapshot()
        now = clock()
        start, end = now - FEED_PAST, now + FEED_FUTURE
        if kind == "schedule":
            if ident not in snap.schedules:
                return JSONResponse({"error": f"unknown schedule {ident!r}"}, status_code=404)
            shifts = snap.resolved(ident).whole_shifts(start, end)
            body = shifts_ics(shifts, calendar_name=f"On call: {ident}", tz=snap.schedules[ident].timezone,
                              now=now, with_person=True)
        else:
            person = snap.people.get(ident)
            if person is None:
                return JSONResponse({"error": f"unknown person {ident!r}"}, status_code=404)
            shifts = [s for sid in snap.schedules for s in snap.resolved(sid).whole_shifts(start, end)
                      if s.person == ident]
            body = shifts_ics(sorted(shifts), calendar_name=f"{person.name} on call", tz=person.timezone, now=now)
        return Response(body, media_type="text/calendar; charset=utf-8")

    return [
        Route("/api/incidents", list_incidents, methods=["GET"]),
        Route("/api/incidents/{incident_id}", show, methods=["GET"]),
        Route("/api/incidents/{incident_id}/{action}", act, methods=["POST"]),
        Route("/calendars/{kind}/{ident}.ics", feed, methods=["GET"]),
    ]
