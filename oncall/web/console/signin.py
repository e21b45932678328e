"""Sign-in pages: ask for a code (sent to the person's own phone or e-mail), enter it, or
follow a one-time login link (``oncall login-link PERSON``); sign out; incident links."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from oncall.config.snapshot import Snapshot
from oncall.errors import DeliveryError, IncidentError
from oncall.interfaces import Outbound
from oncall.schedules.models import Person
from oncall.web.console.auth import CODE_LIFETIME
from oncall.web.console.core import SESSION_COOKIE, Console, Ctx, Viewer, log, safe_next
from oncall.web.console.oncall_pages import _reach


def find_person(snap: Snapshot, who: str) -> Person | None:
    """By id, e-mail or phone number, as people type them."""
    text = who.strip().lower()
    digits = "".join(c for c in text if c.isdigit())
    for person in snap.people.values():
        if text == person.id or (person.email and text == person.email.lower()):
            return person
        if digits and person.phone and len(digits) >= 7 and person.phone.lstrip("+").endswith(digits):
            return person
    return None


def signin_page(console: Console, ctx: Ctx, *, error: str | None = None, status: int = 200) -> Response:
    if ctx.viewer is not None and ctx.request.method == "GET":
        return console.redirect(ctx, safe_next(ctx.query.get("next")))
    return console.render(ctx, "signin.html", status=status, title="Sign in", error=error,
                          next=safe_next(ctx.query.get("next") or ctx.form.get("next")),
                          proxy=console.conf.trusted_header)


def request_code(console: Console, ctx: Ctx) -> Response:
    """POST /signin: send a code to the person's own contact method. The answer is the same
    whether or not the person exists, so the form does not tell who is configured."""
    snap = console.deps.snapshot()
    now = console.deps.clock()
    address = console.client_address(ctx.request)
    who = ctx.form.get("who", "")[:200]
    next_url = safe_next(ctx.form.get("next"))
    if not console.signin_by_address.allow(address):
        log.warning("console.signin", outcome="rate_limited", address=address)
        return signin_page(console, ctx, error="Too many attempts from here; wait a few minutes.", status=429)
    person = find_person(snap, who)
    sent_via = None
    if person is not None and console.signin_by_person.allow(person.id):
        channel, to = _reach(console, person)
        if to is not None:
            code = console.tokens.new_code(person.id, now)
            minutes = int(CODE_LIFETIME.total_seconds() // 60)
            try:
                console.deps.transport.send(Outbound(
                    key=f"signin-{person.id}-{int(now.timestamp())}"[:100], channel=channel, to=to,
                    person_id=person.id, incident_ids=(), subject="oncall sign-in code",
                    text=f"oncall sign-in code: {code} (valid {minutes} min). Not you? Ignore this."))
                sent_via = channel.value
            except DeliveryError as exc:
                log.warning("console.signin", outcome="send_failed", person=person.id, error=str(exc))
    log.info("console.signin", outcome="code_sent" if sent_via else "code_not_sent", address=address,
             person=person.id if person else None, via=sent_via)
    return console.render(ctx, "code.html", title="Enter your code", who=who, next=next_url, error=None)


def enter_code(console: Console, ctx: Ctx) -> Response:
    snap = console.deps.snapshot()
    address = console.client_address(ctx.request)
    who = ctx.form.get("who", "")[:200]
    next_url = safe_next(ctx.form.get("next"))
    if not console.signin_by_address.allow(address):
        log.warning("console.signin", outcome="rate_limited", address=address)
        return console.render(ctx, "code.html", status=429, title="Enter your code", who=who, next=next_url,
                              error="Too many attempts from here; wait a few minutes.")
    person = find_person(snap, who)
    ok = person is not None and console.tokens.use_code(person.id, ctx.form.get("code", "")[:20],
                                                        console.deps.clock())
    log.info("console.signin", outcome="signed_in" if ok else "wrong_code", via="code", address=address,
             person=person.id if person else None)
    if not ok or person is None:
        return console.render(ctx, "code.html", status=401, title="Enter your code", who=who, next=next_url,
                              error="That code is wrong or has expired. Ask for a new one if needed.")
    return console.sign_in(ctx, person.id, next_url)


def link_page(console: Console, ctx: Ctx) -> Response:
    """GET /signin/link?token=…: a button that signs in (a link previewer fetching the URL
    does not spend it); POST: spend the token and sign in."""
    token = (ctx.form.get("token") if ctx.request.method == "POST" else ctx.query.get("token")) or ""
    now = console.deps.clock()
    address = console.client_address(ctx.request)
    if not console.signin_by_address.allow(address):
        log.warning("console.signin", outcome="rate_limited", address=address)
        return signin_page(console, ctx, error="Too many attempts from here; wait a few minutes.", status=429)
    person_id = console.tokens.use_link(token[:200], now, consume=ctx.request.method == "POST")
    person = console.deps.snapshot().people.get(person_id) if person_id else None
    if person is None:
        log.info("console.signin", outcome="bad_link", via="link", address=address)
        return signin_page(console, ctx, error="That sign-in link is invalid, used or expired "
                                               "(links last 15 minutes).", status=401)
    if ctx.request.method == "GET":
        return console.render(ctx, "link.html", title="Sign in", person=person, token=token)
    log.info("console.signin", outcome="signed_in", via="link", address=address, person=person.id)
    return console.sign_in(ctx, person.id, "/")


def signout(console: Console, ctx: Ctx) -> Response:
    if ctx.viewer is not None:
        log.info("console.signout", person=ctx.viewer.person.id)
    response = console.redirect(ctx, "/signin")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---- incident links: one incident, one person, while it is open ------------------------------

def _link_viewer(console: Console, ctx: Ctx) -> tuple[Viewer | None, int]:
    p = ctx.request.path_params
    try:
        ident = int(p["incident_id"])
    except ValueError:
        return None, -1
    snap = console.deps.snapshot()
    person = snap.people.get(p["person"])
    if person is None or not console.signer.incident_tag_ok(ident, person.id, p["tag"]):
        return None, ident
    try:
        if not console.deps.service.get(ident).state.is_open:
            return None, ident
    except IncidentError:
        return None, ident
    return Viewer(person=person, admin=False, via="link", incident_only=ident), ident


def incident_link(console: Console, ctx: Ctx) -> Response:
    from oncall.web.console.incidents import incident_action, incident_page

    viewer, ident = _link_viewer(console, ctx)
    if viewer is None:
        log.info("console.incident_link", outcome="refused", incident=ident)
        return console.render(ctx, "error.html", status=404, title="Link expired",
                              message="This incident link is not valid, or the incident is closed. "
                                      "Sign in to see it.")
    ctx.viewer = viewer
    base = "/i/{incident_id}/{person}/{tag}".format(**ctx.request.path_params)
    if ctx.request.method == "POST":
        ctx.form["back"] = base
        return incident_action(console, ctx)
    return incident_page(console, ctx, action_base=base)


def incident_link_path(console: Console, incident_id: int, person_id: str) -> str:
    return f"/i/{incident_id}/{quote(person_id)}/{console.signer.incident_tag(incident_id, person_id)}"
