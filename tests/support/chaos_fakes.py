"""The chaos test's fakes: who called, and when.

Every instance reaches the fakes under a path prefix of its own (``/via/<instance>``): the
fakes strip it and note the caller, so the oracle knows which instance sent a page or ran a
poll. Each instance's Twilio and helpdesk base URLs carry the prefix; the configuration
directory is the same for all.

* :class:`RoutedTwilio` records, for each message or call it accepts, the ledger key (from
  the status-callback URL), the wall-clock arrival time and the instance that sent it;
* :class:`PollTimingZendesk` holds each incremental-export request for ``hold`` seconds and
  records when it came in and when it was answered, so two polls at once (a singleton duty
  run twice) show as overlapping intervals.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from oncall.testing.fake_helpdesks import FakeZendesk, Reply
from oncall.testing.fake_twilio import FailureStatus, FakeTwilio, PlacedCall, RecordedRequest, SentMessage
from support.chaos_oracle import PollSpan
from support.reliab_ledger import key_of

_VIA = re.compile(r"^/via/([A-Za-z0-9_-]+)(/.*)$")
EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"


def via(base_url: str, instance: str) -> str:
    """``base_url`` as instance ``instance`` calls it."""
    return f"{base_url.rstrip('/')}/via/{instance}"


def split_via(path: str) -> tuple[str | None, str]:
    """(instance, path without the prefix); (None, path) without one."""
    match = _VIA.match(path)
    return (match.group(1), match.group(2)) if match else (None, path)


@dataclass(frozen=True, kw_only=True)
class Arrival:
    """One message or call the fake Twilio accepted."""

    key: str  # the ledger's message key, or "<no key: SID>"
    at: float  # time.time() when it arrived
    sender: str | None  # the instance whose prefix it came under
    kind: str  # "Messages" or "Calls"
    body: str


class RoutedTwilio(FakeTwilio):
    """The fake Twilio, noting which instance sent each message and when it arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list[Arrival] = []
        self._caller = threading.local()

    def __enter__(self) -> RoutedTwilio:
        super().__enter__()
        return self

    def _handle(self, path: str, auth_header: str | None,
                params: dict[str, list[str]]) -> tuple[FailureStatus, dict[str, Any]]:
        sender, path = split_via(path)
        self._caller.sender = sender
        return super()._handle(path, auth_header, params)

    def _record(self, request: RecordedRequest, item: SentMessage | PlacedCall | None) -> None:
        if item is not None:
            arrival = Arrival(
                key=key_of(item.status_callback) or f"<no key: {item.sid}>", at=time.time(),
                sender=getattr(self._caller, "sender", None),
                kind="Messages" if isinstance(item, SentMessage) else "Calls",
                body=item.body if isinstance(item, SentMessage) else (item.twiml or ""))
            with self._cond:
                self.arrivals.append(arrival)
        super()._record(request, item)

    def arrivals_since(self, index: int) -> tuple[list[Arrival], int]:
        """Arrivals from ``index`` on, and the index to continue from."""
        with self._cond:
            found = self.arrivals[index:]
        return found, index + len(found)


class PollTimingZendesk(FakeZendesk):
    """The fake Zendesk, holding each export request ``hold`` seconds and timing it."""

    def __init__(self, *, hold: float = 0.25, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hold = hold
        self.polls: list[PollSpan] = []
        self._polls_lock = threading.Lock()

    def _serve(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Reply:
        instance, target = split_via(target)
        if not target.startswith(EXPORT_PATH):
            return super()._serve(method, target, headers, raw)
        began = time.time()
        time.sleep(self.hold)  # outside the fake's lock: concurrent polls stay concurrent
        reply = super()._serve(method, target, headers, raw)
        span = PollSpan(instance=instance, began=began, ended=time.time())
        with self._polls_lock:
            self.polls.append(span)
        return reply
