"""Bounded retries with exponential backoff and jitter, shared by the transports.

A page is retried within the escalation step, not forever: three attempts and at
most ~10 s of waiting, then the engine moves on to the next contact method. The
sleep is injectable so tests do not wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

T = TypeVar("T")


class TransientError(Exception):
    """Raised inside a transport for a failure worth retrying (429, 5xx, timeout)."""


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    attempts: int = 3
    max_total_seconds: float = 10.0
    initial_wait: float = 0.5
    max_wait: float = 4.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def run(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` until it returns, retrying on :class:`TransientError`.

        Raises the last :class:`TransientError` when the attempts are used up; any
        other exception passes through at once.
        """
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts) | stop_after_delay(self.max_total_seconds),
            wait=wait_random_exponential(multiplier=self.initial_wait, max=self.max_wait),
            retry=retry_if_exception_type(TransientError),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(fn)


NO_WAIT = RetryPolicy(sleep=lambda _seconds: None)
