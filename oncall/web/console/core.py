"""The console's request pipeline: who is asking, CSRF, rendering, security headers.

Each page is a plain function ``(console, ctx) -> Response`` run in a worker thread (they read
the database); :func:`page` wraps it with sign-in, admin and CSRF checks. Nothing but the
sign-in pages (and the static files they need) answers without a signed-in person.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from oncall import logs
from oncall.config.console_settings import ConsoleSettings
from oncall.config.settings import Settings
from oncall.config.snapshot import Snapshot
from oncall.incidents.service import IncidentService
from oncall.interfaces import Transport
from oncall.schedules.models import Person
from oncall.schedules.stored_overrides import StoredOverrides
from oncall.sources.health import SourceHealth
from oncall.web.console import timefmt
from oncall.web.console.auth import RateLimiter, Signer, Tokens

log = logs.get("oncall.console")
HERE = Path(__file__).parent
SESSION_COOKIE = "oncall_session"
CSRF_COOKIE = "oncall_csrf"
MAX_FORM_BYTES = 256 * 1024
Check = Callable[[], tuple[bool, str]]

SECURITY_HEADERS = {
    # Everything comes from oncall itself: no outside script, style, font or image.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, kw_only=True)
class ConsoleDeps:
    """What the console needs from the running service (the daemon passes its own parts)."""

    service: IncidentService
    snapshot: Callable[[], Snapshot]  # the merged snapshot (file and stored overrides)
    engine: Engine
    clock: Callable[[], datetime]
    settings: Settings
    transport: Transport  # sign-in codes and cover requests go out through it
    overrides: StoredOverrides
    on_overrides_changed: Callable[[], None] = lambda: None
    sms_blocked: Callable[[str], bool] = lambda _p: False
    readiness: Mapping[str, Check] = field(default_factory=dict)
    source_health: SourceHealth | None = None
    last_reload_error: Callable[[], str | None] = lambda: None
    transport_name: str = ""


@dataclass(frozen=True, kw_only=True)
class Viewer:
    person: Person
    admin: bool
    via: str  # session | proxy | link (one incident only)
    incident_only: int | None = None


@dataclass(kw_only=True)
class Ctx:
    request: Request
    viewer: Viewer | None
    form: dict[str, str]
    csrf: str
    set_csrf_cookie: str | None = None
    query: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.request.url.path


class Console:
    def __init__(self, deps: ConsoleDeps, key: bytes) -> None:
        self.deps = deps
        self.conf: ConsoleSettings = deps.settings.console
        self.signer = Signer(key)
        self.tokens = Tokens(deps.engine, self.signer)
        self.signin_by_address = RateLimiter(30, timedelta(minutes=15))
        self.signin_by_person = RateLimiter(5, timedelta(minutes=15))
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(),
                               trim_blocks=True, lstrip_blocks=True, auto_reload=False)
        self.env.filters.update(timefmt.FILTERS)
        self.static_version = _static_version()
        public = deps.settings.public_url or ""
        self.secure = self.conf.secure_cookies if self.conf.secure_cookies is not None else \
            public.startswith("https://")

    # ---- who is asking -----------------------------------------------------------------

    def viewer(self, request: Request, snap: Snapshot) -> Viewer | None:
        person_id = self.signer.session_person(request.cookies.get(SESSION_COOKIE), self.deps.clock())
        via = "session"
        if person_id is None and self.conf.trusted_header:
            person_id, via = self._proxy_person(request, snap), "proxy"
        person = snap.people.get(person_id) if person_id else None
        if person is None:
            return None
        return Viewer(person=person, admin=person.id in snap.notifications.admins, via=via)

    def _proxy_person(self, request: Request, snap: Snapshot) -> str | None:
        assert self.conf.trusted_header is not None
        peer = request.client.host if request.client else ""
        value = request.headers.get(self.conf.trusted_header, "").strip().lower()
        if not value or peer not in self.conf.trusted_proxies:
            return None
        for person in snap.people.values():
            if value == person.id or (person.email and value == person.email.lower()):
                return person.id
        log.warning("console.proxy_unknown_user", header=self.conf.trusted_header, peer=peer)
        return None

    def client_address(self, request: Request) -> str:
        return request.client.host if request.client else "unknown"

    # ---- rendering -----------------------------------------------------------------------

    def render(self, ctx: Ctx, template: str, status: int = 200, **values: Any) -> Response:
        snap = values.pop("snap", None) or self.deps.snapshot()
        viewer = ctx.viewer
        tz = viewer.person.timezone if viewer else snap.default_desk.timezone
        body = self.env.get_template(template).render(
            viewer=viewer, csrf=ctx.csrf, path=ctx.path, tz=tz, now=self.deps.clock(), snap=snap,
            static=self.static_version, refresh=self.conf.refresh_seconds, **values)
        return self.finish(ctx, HTMLResponse(body, status_code=status))

    def finish(self, ctx: Ctx, response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if ctx.set_csrf_cookie:
            response.set_cookie(CSRF_COOKIE, ctx.set_csrf_cookie, httponly=True, samesite="strict",
                                secure=self.secure, path="/")
        return response

    def redirect(self, ctx: Ctx, url: str) -> Response:
        return self.finish(ctx, RedirectResponse(url, status_code=303))

    def sign_in(self, ctx: Ctx, person_id: str, next_url: str) -> Response:
        expires = self.deps.clock() + self.conf.session_lifetime
        response = self.redirect(ctx, safe_next(next_url))
        response.set_cookie(SESSION_COOKIE, self.signer.session_cookie(person_id, expires),
                            max_age=int(self.conf.session_lifetime.total_seconds()), httponly=True,
                            samesite="lax", secure=self.secure, path="/")
        return response


def safe_next(url: str | None) -> str:
    """Only a path on this site (no scheme, no host, no '//'): an open redirect is a phishing aid."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


def _static_version() -> str:
    """A cache-busting tag for static files: their combined size and modification time."""
    files = sorted((HERE / "static").iterdir())
    return format(abs(hash(tuple((f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in files))) % 10**8, "x")


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form (the console's forms), at most ``MAX_FORM_BYTES``; last value wins."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=200))


class FormTooLarge(Exception):
    pass


Handler = Callable[[Console, Ctx], Response]


def page(console: Console, handler: Handler, *, public: bool = False, admin: bool = False) -> Callable[
        [Request], Any]:
    """An endpoint: reads the form, finds the viewer, checks sign-in, admin and CSRF, then
    runs ``handler`` in a worker thread."""

    async def endpoint(request: Request) -> Response:
        form: dict[str, str] = {}
        if request.method == "POST":
            try:
                form = await read_form(request)
            except FormTooLarge:
                return HTMLResponse("form too large", status_code=413)
        return await run_in_threadpool(_run, request, form)

    def _run(request: Request, form: dict[str, str]) -> Response:
        snap = console.deps.snapshot()
        csrf_cookie = request.cookies.get(CSRF_COOKIE)
        new_cookie = None
        if not csrf_cookie:
            csrf_cookie = new_cookie = secrets.token_urlsafe(24)
        ctx = Ctx(request=request, viewer=console.viewer(request, snap), form=form,
                  csrf=console.signer.csrf_token(csrf_cookie), set_csrf_cookie=new_cookie,
                  query=dict(request.query_params))
        if request.method == "POST" and not console.signer.csrf_ok(request.cookies.get(CSRF_COOKIE),
                                                                   form.get("csrf")):
            log.warning("console.csrf_refused", path=request.url.path, address=console.client_address(request))
            return console.render(ctx, "error.html", status=403, snap=snap, title="Form expired",
                                  message="This form has expired or came from another site. Go back, reload "
                                          "the page and try again.")
        if not public:
            if ctx.viewer is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return console.redirect(ctx, "/signin?next=" + quote(target, safe=""))
            if admin and not ctx.viewer.admin:
                return console.render(ctx, "error.html", status=403, snap=snap, title="Admins only",
                                      message="This page is for the configuration's admins.")
        return handler(console, ctx)

    return endpoint
