"""The web console: incidents, who is on call, overrides, admin status and Explain, for the
people in the configuration, server-rendered (Jinja2) on the daemon's Starlette app.

``oncall.web.console.routes.console_routes`` is the one entry point: give it the running service's parts
(:class:`ConsoleDeps`) and add the routes it returns to the app. Pages need a signed-in
person (see :mod:`oncall.web.console.auth`); only the sign-in pages, their static files and
incident links answer without one.
"""
