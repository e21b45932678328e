"""The ASGI application: webhooks, Twilio inbound, API, calendar feeds, health and metrics.

Input never answers 500: each route validates what it reads (``oncall.http_input``), and
:class:`ErrorBoundary` catches whatever still escapes a route, logs it once with its
traceback, and answers a short JSON error without one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DataError, OperationalError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oncall import logs
from oncall.http_input import InputError
from oncall.metrics import Metrics

Check = Callable[[], tuple[bool, str]]
log = logs.get("oncall.web")

# Exceptions that come from the shape of a request (a decoder, a converter, the nesting
# limit, a value the database cannot hold, such as an id beyond PostgreSQL's integer),
# should a route miss one: the client's problem, so 400 rather than 500.
INPUT_EXCEPTIONS = (ValueError, RecursionError, OverflowError, DataError)


def _error_for(exc: Exception) -> JSONResponse:
    if isinstance(exc, InputError):
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    if isinstance(exc, INPUT_EXCEPTIONS):
        return JSONResponse({"error": f"request could not be processed ({type(exc).__name__}); "
                                      "see the daemon's log"}, status_code=400)
    if isinstance(exc, OperationalError):  # database locked, full or unreachable: retry later
        return JSONResponse({"error": "the database is unavailable; retry later"}, status_code=503,
                            headers={"Retry-After": "30"})
    return JSONResponse({"error": "internal error; see the daemon's log"}, status_code=500)


class ErrorBoundary:
    """ASGI middleware: an exception escaping a route is logged (method, path, traceback)
    and answered with JSON, never with a traceback; a client that went away gets nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            log.info("http.client_gone", method=scope.get("method"), path=scope.get("path"))
        except Exception as exc:
            if isinstance(exc, InputError):
                log.info("http.refused", method=scope.get("method"), path=scope.get("path"),
                         status=exc.status, reason=exc.message)
            else:
                log.exception("http.unhandled_error", method=scope.get("method"), path=scope.get("path"),
                              error=type(exc).__name__)
            if not started:  # once the response has begun, all that is left is to close
                await _error_for(exc)(scope, receive, send)


def health_routes(checks: dict[str, Check], metrics: Metrics, *, alive: Callable[[], bool],
                  detail: Callable[[], dict[str, Any]] | None = None) -> list[Route]:
    """``/healthz``, ``/readyz`` (each check's verdict and words, and ``detail()`` under
    ``instance``: which instance answers, the leases it holds, its schema gate), ``/metrics``."""

    async def healthz(_request: Request) -> Response:
        if not alive():
            return JSONResponse({"status": "stopping"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        checked: dict[str, Any] = {}
        ready = True
        for name, check in checks.items():
            try:
                ok, info = check()
            except Exception as exc:  # a readiness probe must answer, whatever broke
                ok, info = False, f"{type(exc).__name__}: {exc}"
            checked[name] = {"ok": ok, "detail": info}
            ready = ready and ok
        body: dict[str, Any] = {"ready": ready, "checks": checked}
        if detail is not None:
            try:
                body["instance"] = detail()
            except Exception as exc:
                body["instance"] = {"error": f"{type(exc).__name__}: {exc}"}
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics_endpoint(_request: Request) -> Response:
        # Rendering reads the database (state gauges): not on the event loop.
        body = await run_in_threadpool(metrics.render)
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]


def build_app(routes: list[BaseRoute]) -> Starlette:
    async def not_found(_request: Request, _exc: Exception) -> Response:
        return JSONResponse({"error": "not found"}, status_code=404)

    async def method_not_allowed(_request: Request, _exc: Exception) -> Response:
        return JSONResponse({"error": "method not allowed"}, status_code=405)

    async def server_error(_request: Request, _exc: Exception) -> Response:
        return JSONResponse({"error": "internal error; see the daemon's log"}, status_code=500)

    return Starlette(routes=routes, middleware=[Middleware(ErrorBoundary)],
                     exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error})
