"""Settings of the HTTP server: how long a client may take, how many may be connected.

The global settings nest these as ``http``: ``ONCALL_HTTP__REQUEST_TIMEOUT=10s``,
``ONCALL_HTTP__KEEP_ALIVE_TIMEOUT=5s``, ``ONCALL_HTTP__MAX_CONNECTIONS=900``, or ``[http]``
in ``oncall.toml``. Each open connection holds a file descriptor; without these bounds a
few hundred clients that never finish a request exhaust the process's descriptors.

It lives in ``config/`` beside :class:`~oncall.config.settings.Settings`, not in ``web/``: the
web layer sits on top of the configuration (it reads the settings and the snapshot).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from oncall.fields import Duration, Model

# Below the common default descriptor limit (1024) with room for the database, the
# listening socket, outbound HTTP clients and logs.
DEFAULT_MAX_CONNECTIONS = 900
LONGEST_TIMEOUT = timedelta(hours=1)


class HttpSettings(Model):
    """Bounds on HTTP clients (``ONCALL_HTTP__<FIELD>``)."""

    request_timeout: Duration = timedelta(seconds=10)
    """A request's headers and body must arrive within this time of its first byte (of the
    connection, for its first request); otherwise 408 and the connection is closed."""
    keep_alive_timeout: Duration = timedelta(seconds=5)
    """An idle keep-alive connection is closed after this long without a new request."""
    max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, ge=1, le=1_000_000)
    """Open connections at most; a connection beyond it is answered 503 and closed at once."""

    @field_validator("request_timeout", "keep_alive_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if not timedelta(0) < value <= LONGEST_TIMEOUT:
            raise ValueError(f"must be more than 0s and at most {LONGEST_TIMEOUT.total_seconds():.0f}s")
        return value
