"""A lean load generator for the intake and time-to-page benchmarks: signed webhook requests
built before the clock starts, sent from a few processes over keep-alive connections.

The daemon shares two cores with its load generator, so the generator must cost little: the
requests are signed beforehand, each process runs a few threads with one ``http.client``
connection each, and the results (when each request was sent, when it was answered, the
status) come back once the run is over. Times are ``time.perf_counter()``, one clock for
every process on the machine (CLOCK_MONOTONIC), as the fake Twilio's stamps are.

    requests = [Request(ticket_id=f"T{i}", body=body, headers=signed) for i, body in ...]
    result = blast(["http://127.0.0.1:8080"], requests, rate=200)   # rate=None: all at once
    result.sent_at["T3"], result.answered_at["T3"], result.status["T3"]
"""

from __future__ import annotations

import http.client
import multiprocessing
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from urllib.parse import urlsplit

from oncall.sources.signatures import GENERIC_HEADER, sign_generic
from support.reliab_daemon import SECRET

PATH = "/webhooks/tickets/generic"


@dataclass(frozen=True)
class Request:
    ticket_id: str
    body: bytes
    headers: dict[str, str]


def signed(ticket_id: str, body: bytes, secret: str = SECRET) -> Request:
    return Request(ticket_id, body, {GENERIC_HEADER: sign_generic(secret, body), "Content-Type": "application/json"})


@dataclass
class BlastResult:
    seconds: float = 0.0
    sent_at: dict[str, float] = field(default_factory=dict)
    answered_at: dict[str, float] = field(default_factory=dict)
    status: dict[str, int | None] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return sum(1 for s in self.status.values() if s == 202)

    @property
    def achieved_rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


Outcome = tuple[str, float, float, int | None]


def _thread(url: str, items: list[tuple[int, Request]], start: float, rate: float | None,
            out: list[Outcome]) -> None:
    parts = urlsplit(url)
    conn: http.client.HTTPConnection | None = None
    for i, request in items:
        if rate is not None:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the offered load
        sent = time.perf_counter()
        status: int | None = None
        for _attempt in range(2):  # a keep-alive connection the server closed: reconnect once
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
                conn.request("POST", PATH, body=request.body, headers=request.headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                break
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
        out.append((request.ticket_id, sent, time.perf_counter(), status))
    if conn is not None:
        conn.close()


def _process(pipe: Connection, urls: list[str], items: list[tuple[int, Request]], rate: float | None,
             threads: int) -> None:
    pipe.send("ready")
    start: float = pipe.recv()
    outs: list[list[Outcome]] = [[] for _ in range(threads)]
    workers = [threading.Thread(target=_thread, args=(urls[t % len(urls)], items[t::threads], start, rate, outs[t]))
               for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    pipe.send([o for out in outs for o in out])
    pipe.close()


def blast(urls: Sequence[str], requests: Sequence[Request], *, rate: float | None, processes: int = 4,
          threads: int = 4) -> BlastResult:
    """Send ``requests`` (``rate`` a second, open loop; ``None``: as fast as they go), request
    ``i`` to ``urls[i % len(urls)]`` within each sender. Blocks until every one was answered."""
    context = multiprocessing.get_context("spawn")  # the caller runs threads (fake servers): never fork
    indexed = list(enumerate(requests))
    pipes: list[Connection] = []
    procs = []
    for p in range(processes):
        mine, theirs = context.Pipe()
        share = indexed[p::processes]
        proc = context.Process(target=_process, args=(theirs, list(urls), share, rate, threads), daemon=True)
        proc.start()
        theirs.close()
        pipes.append(mine)
        procs.append(proc)
    for pipe in pipes:
        if pipe.recv() != "ready":
            raise RuntimeError("a load process did not start")
    start = time.perf_counter() + 0.05
    for pipe in pipes:
        pipe.send(start)
    result = BlastResult()
    last = start
    for pipe in pipes:
        for ticket_id, sent, answered, status in pipe.recv():
            result.sent_at[ticket_id] = sent
            result.answered_at[ticket_id] = answered
            result.status[ticket_id] = status
            last = max(last, answered)
        pipe.close()
    for proc in procs:
        proc.join(10)
    result.seconds = last - start
    return result
