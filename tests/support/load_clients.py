"""Load generation for the daemon benchmark: signed tickets at a steady rate from
several client threads, and a fake Twilio that stamps when each request arrived.

    with StampingTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        result = offer_load(base_url, rate=200, seconds=30, body=lambda i: ...)
        first = first_page_at(db_url, fake.arrived)  # ticket → its first page's arrival
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import create_engine, select

from oncall.sources.signatures import GENERIC_HEADER, sign_generic
from oncall.store.tables import incidents, notifications
from oncall.testing.fake_twilio import FakeTwilio, PlacedCall, RecordedRequest, SentMessage
from support.reliab_daemon import SECRET
from support.reliab_ledger import key_of


class StampingTwilio(FakeTwilio):
    """The fake Twilio, noting the monotonic time each ledger message key first
    arrived (read from the status-callback URL). A bundled SMS covers several
    incidents: map keys to tickets through the ledger (:func:`first_page_at`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrived: dict[str, float] = {}

    def __enter__(self) -> StampingTwilio:
        super().__enter__()
        return self

    def _record(self, request: RecordedRequest, item: SentMessage | PlacedCall | None) -> None:
        at = time.perf_counter()
        key = key_of(item.status_callback) if item is not None else None
        if key:
            with self._cond:
                self.arrived.setdefault(key, at)
        super()._record(request, item)


def first_page_at(url: str, arrived: dict[str, float]) -> dict[str, float]:
    """Ticket id → when its first page (alone or in a bundle) reached the fake Twilio."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            pairs = conn.execute(select(notifications.c.message_key, incidents.c.ticket_id)
                                 .join(incidents, incidents.c.id == notifications.c.incident_id)
                                 .where(notifications.c.message_key.is_not(None))).all()
    finally:
        engine.dispose()
    first: dict[str, float] = {}
    for key, ticket in pairs:
        if key in arrived:
            first[ticket] = min(first.get(ticket, arrived[key]), arrived[key])
    return first


@dataclass
class LoadResult:
    offered_rate: float
    seconds: float  # how long sending actually took
    accepted_at: dict[str, float] = field(default_factory=dict)  # ticket → response time
    sent_at: dict[str, float] = field(default_factory=dict)  # ticket → when its request was sent
    statuses: dict[str, int | None] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return sum(1 for s in self.statuses.values() if s == 202)

    @property
    def achieved_rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


def offer_load(base_url: str | Sequence[str], *, rate: float, seconds: float,
               body: Callable[[int], tuple[str, bytes]], workers: int = 16) -> LoadResult:
    """Send ``rate`` tickets a second for ``seconds`` (open loop: request i is due at
    start + i/rate whether or not earlier ones were answered, up to ``workers`` in flight).
    Several base URLs (several instances) take the requests in turn."""
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    total = max(1, int(rate * seconds))
    result = LoadResult(offered_rate=rate, seconds=0.0)
    lock = threading.Lock()
    local = threading.local()
    clients: list[httpx.Client] = []

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30.0, limits=httpx.Limits(max_connections=4))
            with lock:
                clients.append(local.client)
        c: httpx.Client = local.client
        return c

    start = time.perf_counter()

    def send(i: int) -> None:
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)  # pacing the offered load, not waiting for a result
        ticket_id, raw = body(i)
        sent = time.perf_counter()
        try:
            status: int | None = client().post(
                urls[i % len(urls)] + "/webhooks/tickets/generic", content=raw,
                headers={GENERIC_HEADER: sign_generic(SECRET, raw),
                         "Content-Type": "application/json"}).status_code
        except httpx.HTTPError:
            status = None
        now = time.perf_counter()
        with lock:
            result.statuses[ticket_id] = status
            result.sent_at[ticket_id] = sent
            if status == 202:
                result.accepted_at[ticket_id] = now

    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(send, range(total)))
    finally:
        for c in clients:
            c.close()
    result.seconds = time.perf_counter() - start
    return result


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0–100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
