"""Settings of the web console (``ONCALL_CONSOLE__<FIELD>``, or ``[console]`` in ``oncall.toml``).

The session signing key is a secret: from ``ONCALL_CONSOLE__SECRET_KEY`` (or a systemd
credential), else generated once and kept in the database, so several instances sharing
the database sign alike and sessions survive restarts. It is never printed or logged.

It lives in ``config/`` beside :class:`~oncall.config.settings.Settings`, not in ``web/``: the
web layer sits on top of the configuration (it reads the settings and the snapshot).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr, field_validator

from oncall.fields import Duration, Model


class ConsoleSettings(Model):
    """The web console: sessions, single sign-on through a proxy, live updates."""

    enabled: bool = True
    """Serve the console (``GET /`` and its pages)."""
    secret_key: SecretStr | None = None
    """Key that signs session cookies and CSRF tokens (32+ characters); unset: generated
    once and kept in the database."""
    session_lifetime: Duration = timedelta(hours=12)
    """How long a sign-in lasts."""
    trusted_header: str | None = None
    """Single sign-on: the request header an authenticating proxy sets to the signed-in
    user's e-mail or person id (e.g. X-Forwarded-Email for oauth2-proxy). Off when unset."""
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    """Peer addresses whose ``trusted_header`` is believed; from anyone else it is ignored."""
    incident_links: bool = False
    """One-incident SMS and e-mail pages end with a link that opens that incident for the
    paged person, to act on it without signing in, while it is open (needs public_url)."""
    refresh_seconds: float = Field(default=10.0, ge=0.5, le=3600)
    """How often an open incident list or incident page refreshes itself (with JavaScript)."""
    secure_cookies: bool | None = None
    """Mark cookies Secure (HTTPS only); unset: when the public URL is https."""

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. python3 -c 'import secrets; "
                             "print(secrets.token_urlsafe(32))')")
        return value

    @field_validator("session_lifetime")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=5) <= value <= timedelta(days=90):
            raise ValueError("must be between 5m and 90d")
        return value

