"""The ASGI application: webhooks, Twilio inbound, API, calendar feeds, health and metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from oncall.metrics import Metrics

Check = Callable[[], tuple[bool, str]]


def health_routes(checks: dict[str, Check], metrics: Metrics, *, alive: Callable[[], bool]) -> list[Route]:
    async def healthz(_request: Request) -> Response:
        if not alive():
            return JSONResponse({"status": "stopping"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        detail: dict[str, Any] = {}
        ready = True
        for name, check in checks.items():
            try:
                ok, info = check()
            except Exception as exc:  # a readiness probe must answer, whatever broke
                ok, info = False, f"{type(exc).__name__}: {exc}"
            detail[name] = {"ok": ok, "detail": info}
            ready = ready and ok
        return JSONResponse({"ready": ready, "checks": detail}, status_code=200 if ready else 503)

    async def metrics_endpoint(_request: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

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

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: method_not_allowed,
                                                        500: server_error})
