"""The chaos run's traffic: the helpdesk's stream of signed tickets, and the engineers'
acknowledgements by SMS (:mod:`support.chaos`).

* :class:`TicketStream` posts signed urgent tickets at a steady rate, each to an instance
  picked at random (seeded per ticket), retrying at the next instance until one answers 202;
* :class:`Acker` watches the fake Twilio: for a seeded share of incidents the paged person
  replies ``<code>a`` to the first or the second page, signed as Twilio signs it, through an
  instance other than the one that sent the page.
"""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import Engine, select

from oncall.notify.sms_dialogue import NOT_PROCESSED
from oncall.sources.signatures import GENERIC_HEADER, sign_generic
from oncall.store.tables import incidents, notifications
from oncall.testing.twilio_doubles import FROM_NUMBER
from support import configs
from support.chaos_cluster import Cluster
from support.chaos_fakes import Arrival, RoutedTwilio

if TYPE_CHECKING:
    from support.chaos import ChaosPlan

SECRET = "chaos-webhook-secret"
PUBLIC_URL = "https://oncall.example.net"  # the load balancer's address: Twilio signs over it
POST_TIMEOUT = httpx.Timeout(2.0, connect=1.0)


def ticket_body(ticket_id: str) -> bytes:
    now = datetime.now(UTC).isoformat()
    return json.dumps({"id": ticket_id, "source": "generic", "subject": f"Outage {ticket_id}",
                       "priority": "urgent", "status": "new", "created_at": now, "updated_at": now,
                       "customer": "chaos"}).encode()


class TicketStream:
    """Signed urgent tickets at ``rate`` a second until :meth:`finish`; each retried at the
    next instance until one answers 202."""

    def __init__(self, plan: ChaosPlan, cluster: Cluster) -> None:
        self.plan = plan
        self.cluster = cluster
        self.first_try: dict[str, float] = {}
        self.accepted: dict[str, float] = {}  # ticket → its first 202
        self.refused: dict[str, str] = {}
        self.attempts = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(16, thread_name_prefix="chaos-post")
        self._thread = threading.Thread(target=self._offer, name="chaos-stream", daemon=True)
        self._local = threading.local()
        self._clients: list[httpx.Client] = []

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)
        for client in self._clients:
            client.close()

    def _offer(self) -> None:
        started = time.monotonic()
        i = 0
        while not self._stop.is_set():
            due = started + i / self.plan.rate
            if self._stop.wait(max(0.0, due - time.monotonic())):
                break
            self._pool.submit(self._post, f"C{self.plan.seed}-{i}", i)
            i += 1

    def _client(self) -> httpx.Client:
        if not hasattr(self._local, "client"):
            self._local.client = httpx.Client(timeout=POST_TIMEOUT)
            with self._lock:
                self._clients.append(self._local.client)
        client: httpx.Client = self._local.client
        return client

    def _post(self, ticket_id: str, i: int) -> None:
        body = ticket_body(ticket_id)
        headers = {GENERIC_HEADER: sign_generic(SECRET, body), "Content-Type": "application/json"}
        order = self.cluster.instances[:]
        random.Random(f"{self.plan.seed}/{ticket_id}").shuffle(order)
        with self._lock:
            self.first_try[ticket_id] = time.time()
        last = "no attempt"
        for attempt in range(60):
            instance = order[attempt % len(order)]
            with self._lock:
                self.attempts += 1
            try:
                status = self._client().post(instance.url + "/webhooks/tickets/generic", content=body,
                                             headers=headers).status_code
            except httpx.HTTPError as exc:
                last = f"{instance.name}: {type(exc).__name__}"
                if isinstance(exc, httpx.ConnectError):
                    time.sleep(0.05)
                continue
            if status == 202:
                with self._lock:
                    self.accepted.setdefault(ticket_id, time.time())
                return
            last = f"{instance.name}: HTTP {status}"
            time.sleep(0.05)
        with self._lock:
            self.refused[ticket_id] = last


@dataclass
class Reply:
    incident_id: int
    person: str
    code: int
    sender: str | None
    vias: list[str] = field(default_factory=list)
    answered: float | None = None
    statuses: list[str] = field(default_factory=list)


class Acker:
    """Watches the fake Twilio; for a seeded share of incidents the paged person replies
    ``<code>a`` to the first or the second page, through an instance other than the sender."""

    def __init__(self, plan: ChaosPlan, cluster: Cluster, twilio: RoutedTwilio, reader: Engine) -> None:
        self.plan = plan
        self.cluster = cluster
        self.twilio = twilio
        self.reader = reader
        self.replies: dict[int, Reply] = {}
        self._seen = 0
        self._due: list[tuple[float, Reply]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaos-acker", daemon=True)
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="chaos-ack")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)

    def ack_after(self, ticket_id: str) -> int | None:
        """Which step's page the engineer answers (0 or 1), or None: nobody answers."""
        draw = random.Random(f"{self.plan.seed}/ack/{ticket_id}").random()
        if draw < self.plan.ack_first:
            return 0
        if draw < self.plan.ack_first + self.plan.ack_second:
            return 1
        return None

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            arrivals, self._seen = self.twilio.arrivals_since(self._seen)
            if arrivals:
                self._plan_replies(arrivals)
            now = time.time()
            ready = [r for at, r in self._due if at <= now]
            self._due = [(at, r) for at, r in self._due if at > now]
            for reply in ready:
                self._pool.submit(self.send, reply)

    def _plan_replies(self, arrivals: list[Arrival]) -> None:
        by_key = {a.key: a for a in arrivals}
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(notifications.c.message_key, notifications.c.incident_id, notifications.c.person_id,
                       notifications.c.short_code, notifications.c.round, notifications.c.step,
                       notifications.c.purpose, incidents.c.ticket_id)
                .join(incidents, incidents.c.id == notifications.c.incident_id)
                .where(notifications.c.message_key.in_(list(by_key)))).all()
        for row in rows:
            if row.purpose != "page" or row.round != 0 or row.incident_id in self.replies:
                continue
            if self.ack_after(row.ticket_id) != row.step:
                continue
            arrival = by_key[row.message_key]
            reply = Reply(incident_id=row.incident_id, person=row.person_id, code=row.short_code,
                          sender=arrival.sender)
            self.replies[row.incident_id] = reply
            delay = random.Random(f"{self.plan.seed}/delay/{row.ticket_id}").uniform(*self.plan.reply_delay)
            self._due.append((arrival.at + delay, reply))

    def send(self, reply: Reply, attempts: int = 4) -> None:
        """Post the reply to instances other than the sender until one answers."""
        others = [i for i in self.cluster.instances if i.name != reply.sender] or self.cluster.instances
        random.Random(f"{self.plan.seed}/via/{reply.incident_id}").shuffle(others)
        phone = configs.PHONES[reply.person]
        for attempt in range(attempts):
            instance = others[attempt % len(others)]
            reply.vias.append(instance.name)
            try:
                answer = self.twilio.send_sms_reply(PUBLIC_URL, from_=phone, to=FROM_NUMBER,
                                                    body=f"{reply.code}a", via=instance.url)
            except httpx.HTTPError as exc:
                reply.statuses.append(f"{instance.name}: {type(exc).__name__}")
                continue
            if answer.status_code == 200 and NOT_PROCESSED in answer.text:
                # told the reply did not land: the engineer tries again, as the answer asks
                reply.statuses.append(f"{instance.name}: 200, not processed")
                continue
            reply.statuses.append(f"{instance.name}: {answer.status_code}")
            if answer.status_code == 200:
                reply.answered = time.time()
                return

    def unanswered(self) -> list[Reply]:
        return [r for r in self.replies.values() if r.answered is None]

    def pending(self) -> bool:
        return bool(self._due)
