"""A clock moved by hand, for code that takes an injected clock.

The daemon reads the time through ``clock.now()`` (:class:`oncall.interfaces.Clock`); the
Twilio inbound routes and the webhook intake take a function returning the time: pass
``clock.now``. Nothing moves unless the test says so.

    clock = FakeClock(datetime(2026, 11, 28, 3, 0, tzinfo=ZoneInfo("America/New_York")))
    daemon = Daemon(settings, engine=open_store(settings.database_url), clock=clock,
                    transport=RecordingTransport(), handle_signals=False)
    clock.advance(timedelta(minutes=5))   # or clock.set(instant); a negative delta goes back
    daemon.duty("engine").run_once(clock.now())
"""

from __future__ import annotations

from datetime import datetime, timedelta


class FakeClock:
    """Returns the instant it was given until told to move (forward or back)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError(f"FakeClock needs an aware datetime, got {start!r}")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move by ``delta``; negative to step the wall clock back."""
        self._now += delta

    def set(self, instant: datetime) -> None:
        """Jump to ``instant`` (either way)."""
        if instant.tzinfo is None:
            raise ValueError(f"FakeClock needs an aware datetime, got {instant!r}")
        self._now = instant
