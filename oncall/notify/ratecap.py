"""A cap on automatic SMS answers per number, so two machines cannot loop.

An auto-responder that answers our help text with its own would otherwise ping-pong
forever (and bill both sides). Actions in the replies are still carried out; only
oncall's answers stop.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta


class ReplyCap:
    """At most ``limit`` answers per number within a sliding ``window``."""

    def __init__(self, limit: int = 5, window: timedelta = timedelta(minutes=10)) -> None:
        self.limit = limit
        self.window = window
        self._sent: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def allow(self, number: str, now: datetime) -> bool:
        """Record an answer to ``number`` at ``now`` if still under the cap."""
        with self._lock:
            sent = self._sent.setdefault(number, deque())
            while sent and now - sent[0] >= self.window:
                sent.popleft()
            if len(sent) >= self.limit:
                return False
            sent.append(now)
            return True
