"""The console's routes: :func:`console_routes` is what the daemon adds to its app."""


from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from oncall.web.console import admin, incidents, oncall_pages, signin
from oncall.web.console.auth import load_or_create_secret
from oncall.web.console.core import HERE, Console, ConsoleDeps, page


def build_console(deps: ConsoleDeps) -> Console:
    configured = deps.settings.console.secret_key
    key = load_or_create_secret(deps.engine, configured.get_secret_value() if configured else None, deps.clock())
    return Console(deps, key)


def console_routes(deps: ConsoleDeps, console: Console | None = None) -> list[BaseRoute]:
    """The console's routes (empty when ``console.enabled`` is false)."""
    if not deps.settings.console.enabled:
        return []
    c = console or build_console(deps)
    return [
        Route("/", page(c, incidents.incident_list), methods=["GET"]),
        Route("/incidents/{incident_id:int}", page(c, incidents.incident_page), methods=["GET"]),
        Route("/incidents/{incident_id}/{action}", page(c, incidents.incident_action), methods=["POST"]),
        Route("/oncall", page(c, oncall_pages.oncall_page), methods=["GET"]),
        Route("/shifts", page(c, oncall_pages.shifts_page), methods=["GET"]),
        Route("/overrides", page(c, oncall_pages.overrides_page), methods=["GET"]),
        Route("/overrides", page(c, oncall_pages.override_create), methods=["POST"]),
        Route("/overrides/{override_id}/remove", page(c, oncall_pages.override_remove), methods=["POST"]),
        Route("/admin", page(c, admin.admin_page, admin=True), methods=["GET"]),
        Route("/admin/explain", page(c, admin.explain_page, admin=True), methods=["GET", "POST"]),
        Route("/signin", page(c, signin.signin_page, public=True), methods=["GET"]),
        Route("/signin", page(c, signin.request_code, public=True), methods=["POST"]),
        Route("/signin/code", page(c, signin.enter_code, public=True), methods=["POST"]),
        Route("/signin/link", page(c, signin.link_page, public=True), methods=["GET", "POST"]),
        Route("/signout", page(c, signin.signout, public=True), methods=["POST"]),
        Route("/i/{incident_id}/{person}/{tag}", page(c, signin.incident_link, public=True),
              methods=["GET", "POST"]),
        Route("/i/{incident_id}/{person}/{tag}/{action}", page(c, signin.incident_link, public=True),
              methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="console-static"),
    ]
