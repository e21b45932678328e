"""The thin runner: claims due incidents, calls the pure engine, writes the result
and hands notifications to the transport.

Several runners may share one database (several ``oncall run`` on PostgreSQL): every piece
of work is claimed from the database, never assumed, so two workers never fire the same
step or send the same message.

- **Due steps** are claimed in batches, ``SELECT … FOR UPDATE SKIP LOCKED``: a batch is
  stepped, its states saved, its ledger rows and audit rows written in one transaction.
  Reply codes and the storm limit are per person: the step takes the people's locks
  (:func:`oncall.store.claims.lock_people`).
- **Messages** are claimed for sending: the message's rows move from ``pending`` to
  ``sending`` with ``claimed_by`` (this runner's :attr:`Runner.worker_id`), a fencing token
  (``claim_token``, new for every claim) and a deadline (``claim_deadline``: ``claim_for``
  after the *database's* ``now()``, so clock skew between hosts cannot split a claim),
  committed before the provider is called.

Crash-safety protocol for sends:

1. the engine's new state and the ledger rows (status ``pending``, or ``held`` by
   the storm limit) are committed in one transaction — a step is never lost;
2. the message is claimed (above) in a transaction that also re-reads (and, on
   PostgreSQL, locks) its incidents, so an acknowledgement committed first — on any
   instance — always wins: a page for an incident no longer triggered is ``cancelled``
   there and never handed over. A message's rows are locked together, in the ledger's
   order, and claimed only while ``pending``: a second worker after the same message waits
   for the first and finds it claimed, so a bundle is never split between workers;
3. right before the provider call the claim is re-validated: still ``sending`` with this
   token and before its deadline (then renewed for another ``claim_for``). A claim younger
   than :data:`FRESH` seconds by the host's boot clock — which keeps counting while the
   process is stopped — needs no round trip: nobody may take it over before its deadline.
   A worker whose claim was lost (frozen past the deadline, taken over) sends nothing;
4. only then is the transport called; while calls are under way the runner renews their
   claims every third of ``claim_for``, so a slow provider call is not taken for a dead
   one, while a killed or frozen runner renews nothing and its claims expire;
5. then the rows are marked ``sent`` or ``failed`` — only if the token is still theirs (a
   failure is fed back to the engine as a :class:`DeliveryFailed` event so the person's
   next method goes out). An outcome that comes back after the claim was taken over is
   written to the audit log and leaves the rows ``unknown`` (their one resend stands).

Recovery, at the start of every pass and by any runner: a ``pending`` message never
reached the transport and is simply claimed and sent, whoever wrote it. A ``sending`` claim
past its deadline without an outcome — or one of this runner's own (between passes it has
nothing in flight), or any on SQLite (one instance, whose runner has nothing in flight
between passes) — has an unknown outcome: it is marked ``unknown`` and resent once (a new
row with ``resend_of``), unless its incident is no longer triggered. A resend whose outcome
is unknown too is not resent again; its page is treated as not delivered — a
:class:`DeliveryFailed` — so the person's next contact method goes out at once instead of
the step waiting out its delay. A message's rows are locked and turned ``unknown`` in one
transaction, only while still abandoned, so two runners never resend one message, and a
renewal that races the recovery either commits first (the claim is alive again, not
recovered) or finds the claim gone.

``claim_for`` (:data:`CLAIM_FOR`, the daemon's ``ONCALL_FAILOVER_SECONDS``) bounds how long a
dead or frozen runner's messages wait for another. A frozen runner can still wake between
its last check and the provider call — no protocol closes that gap — and then the message
may go out twice; it is counted as the unknown outcome's one resend.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Select, and_, bindparam, func, insert, literal, or_, select, update

from oncall.errors import DeliveryError, PermanentDeliveryError
from oncall.escalation.directory import Directory
from oncall.escalation.engine import step
from oncall.escalation.messages import PageSubject, alert_text, bundle_text, gate
from oncall.escalation.policy import EscalationPolicy, NotificationSettings
from oncall.escalation.state import (
    DeliveryFailed,
    Notify,
    Record,
    state_from_json,
)
from oncall.incidents import repo
from oncall.interfaces import Channel, Outbound, Transport
from oncall.notify.channels import CHANNELS, texted_stop
from oncall.store.claims import bounded, database_now, deadline, lock_people, millis, shares_work, time_params
from oncall.store.tables import incidents, notifications
from oncall.store.types import as_utc

log = logging.getLogger("oncall.escalation")
SENDERS = 8  # messages handed to the transport at the same time
MAX_PASSES = 5  # failovers produce new due work; a few passes settle it
# A sending claim's life (the daemon passes ONCALL_FAILOVER_SECONDS): renewed every third of
# it while the provider call is under way. Past it, with no outcome, the message is "unknown".
CLAIM_FOR = timedelta(seconds=15)
FRESH = 2.0  # seconds: a claim this young is re-validated without asking the database


@dataclass
class RunReport:
    stepped: int = 0
    sent: int = 0
    failed: int = 0
    held: int = 0
    resent: int = 0
    cancelled: int = 0
    conflicts: int = 0
    lost: int = 0  # claims lost before the provider call (frozen past the deadline): nothing sent
    late: int = 0  # outcomes that came back after the claim was taken over
    failovers: int = 0  # delivery failures fed back to the engine: due again at once
    held_by_channel: Counter[str] = field(default_factory=Counter)
    lateness: list[float] = field(default_factory=list)  # seconds each step fired after it was due


@dataclass
class Claim:
    """A message this runner holds for sending: its rows, its token, and when (by the host's
    boot clock, read before the claim was made or last renewed) it was taken."""

    key: str
    token: str
    rows: Sequence[Any]
    body: str
    taken_at: float


def _noop(_name: str) -> None:
    return None


def _boot_clock() -> float:
    """Seconds on a clock that never jumps and keeps counting while the process is stopped
    (and, where the system has it, while the host sleeps)."""
    return time.clock_gettime(getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC))


def default_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Runner:
    """``run_due(now)`` is all the daemon calls (from its tick and its precise
    wake-up job); ``next_wakeup()`` says when to call it next. ``worker_id`` names this
    runner in the claims it makes (default: host, process id and a random part);
    ``claim_for`` is the life of a sending claim (:data:`CLAIM_FOR`)."""

    def __init__(self, engine: Engine, transport: Transport, directory: Callable[[], Directory],
                 settings: Callable[[], NotificationSettings], *, batch: int = 500,
                 checkpoint: Callable[[str], None] = _noop,
                 page_link: Callable[[int, str], str | None] | None = None,
                 claim_for: timedelta = CLAIM_FOR, worker_id: str | None = None) -> None:
        self.engine = engine
        # (incident id, person id) -> a short link that opens that incident for that person
        # (the console's incident links); appended to a one-incident SMS or e-mail page.
        self.page_link = page_link
        self.transport = transport
        self.directory = directory
        self.settings = settings
        self.batch = batch
        self.checkpoint = checkpoint  # crash tests kill the process at these points
        self.claim_for = claim_for
        self.fresh = min(FRESH, claim_for.total_seconds() / 2)
        self.worker_id = worker_id or default_worker_id()
        shared = shares_work(engine)
        self._waiting = _waiting(shared)
        # A runner frozen inside one of its transactions lets go of what it locked (due
        # incidents, people, messages) after claim_for of silence (PostgreSQL).
        self._idle = millis(claim_for)
        self._due = bounded(_DUE, shared)
        self._pending_rows = bounded(_PENDING_ROWS, shared)
        # One read needs no transaction of its own: on PostgreSQL that saves the BEGIN and
        # ROLLBACK round trips of every pass (SQLite's transactions cost no round trip).
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT") if shared else engine
        self._claim_rows = update(notifications).where(and_(
            notifications.c.message_key == bindparam("b_key"), notifications.c.status == repo.PENDING)).values(
            status=repo.SENDING, claimed_by=bindparam("b_me"), claim_token=bindparam("b_token"),
            claim_deadline=deadline(shared), updated_at=bindparam("b_now"))
        self._renew_one = update(notifications).where(and_(
            _MINE, notifications.c.status == repo.SENDING,
            notifications.c.claim_deadline > database_now(shared))).values(claim_deadline=deadline(shared))
        self._renew_many = update(notifications).where(and_(
            notifications.c.claim_token.in_(bindparam("b_tokens", expanding=True)),
            notifications.c.status == repo.SENDING,
            notifications.c.claim_deadline > database_now(shared))).values(
            claim_deadline=deadline(shared)).returning(notifications.c.claim_token)
        self._lock = threading.Lock()
        self._settle_lock = threading.Lock()  # report counters and settlements, one at a time
        self._senders = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="oncall-send")
        self._policies: dict[str, EscalationPolicy] = {}

    # ---- public -------------------------------------------------------------------

    def run_due(self, now: datetime) -> RunReport:
        report = RunReport()
        with self._lock:
            # Every send of the previous pass has finished (or died): what is still
            # pending, or claimed by this runner, now was left behind.
            keys = self._recover(now, report)
            for _ in range(MAX_PASSES):
                stepped, again = self._step_due(now, report)
                keys += stepped
                failovers = report.failovers
                self._send_all(self._claim(keys, now, report), now, report)
                if not again and report.failovers == failovers:
                    break  # nothing this pass made due again
                keys = []
        return report

    def next_wakeup(self) -> datetime | None:
        with self._reader.connect() as conn:
            return next_wakeup(conn)

    # ---- stepping -----------------------------------------------------------------

    def _policy(self, data: dict[str, Any]) -> EscalationPolicy:
        key = json.dumps(data, sort_keys=True)
        if key not in self._policies:
            self._policies[key] = EscalationPolicy.model_validate(data)
        return self._policies[key]

    def _step_due(self, now: datetime, report: RunReport) -> tuple[list[str], bool]:
        """Claim a batch of due incidents, step them, and write the whole batch's states,
        audit rows and ledger rows. Returns the new messages' keys and whether more may be
        due now (a full batch, or an incident due again at once)."""
        directory = self.directory()
        with self.engine.begin() as conn:
            rows = conn.execute(self._due, {"b_now": now, "b_limit": self.batch, "b_idle": self._idle}).all()
            if not rows:
                return [], False
            saves = []
            audit: list[dict[str, Any]] = []
            notifies: list[tuple[_Stepped, Notify]] = []
            for row in rows:
                state = state_from_json(row.engine_state)
                new, actions = step(state, self._policy(row.policy_json), directory, now)
                saves.append((row.id, row.version, new))
                report.stepped += 1
                due = as_utc(row.next_action_at)
                report.lateness.append(max(0.0, (now - due).total_seconds()) if due else 0.0)
                audit += repo.audit_rows(row.id, now, [a for a in actions if isinstance(a, Record)])
                stepped = _Stepped(row, new.status.value, first=state.step < 0 and state.round == 0
                                   and not state.cursors)
                notifies += [(stepped, a) for a in actions if isinstance(a, Notify)]
            # States first: a message is composed only for incidents triggered in the database
            # (an acknowledgement that ran out is triggered again by this very step).
            repo.save_states(conn, saves, now)
            keys = self._enqueue(conn, notifies, directory, now, report, audit)
            closed = [incident_id for incident_id, _, state in saves if state.status in repo.CLOSED]
            if closed and notifies:
                repo.free_codes(conn, closed)  # a page for an incident the step closed holds no code
            repo.insert_audit(conn, audit)
        self.checkpoint("stepped")
        again = len(rows) >= self.batch or any((w := state.wake_at(now)) is not None and w <= now
                                               for _, _, state in saves)
        return keys, again

    def _enqueue(self, conn: Connection, notifies: list[tuple[_Stepped, Notify]], directory: Directory,
                 now: datetime, report: RunReport, audit: list[dict[str, Any]]) -> list[str]:
        """Write ledger rows; per person and channel one message now, or hold them. Runs after
        the stepped incidents' states were saved. A message made only of this batch's pages
        is worded here; one that takes up pages held earlier is worded from the ledger."""
        groups: dict[tuple[str, Channel], list[tuple[_Stepped, Notify]]] = defaultdict(list)
        for stepped, n in notifies:
            groups[(n.person_id, n.channel)].append((stepped, n))
        addresses: dict[tuple[str, Channel], str] = {}
        for (person, channel), items in groups.items():
            contact = directory.contact(person)
            address = contact.address(channel) if contact else None
            if address:
                addresses[(person, channel)] = address
                continue
            for stepped, _n in items:
                audit += repo.audit_rows(stepped.id, now, [Record(
                    kind="notification_skipped", actor=person, channel=channel.value,
                    detail="no address for this channel")])
        if not addresses:
            return []
        lock_people(conn, {person for person, _ in addresses})
        wanted: dict[str, list[int]] = defaultdict(list)
        for (person, channel) in addresses:
            wanted[person] += [stepped.id for stepped, _n in groups[(person, channel)]]
        codes = repo.reply_codes_for(conn, wanted, never_paged={s.id for s, _n in notifies if s.first})
        holding = _holding(conn)
        rows: list[dict[str, Any]] = []
        keys: list[str] = []
        worded: list[str] = []
        for (person, channel), address in addresses.items():
            items = groups[(person, channel)]
            values = [{
                "incident_id": stepped.id, "person_id": person, "channel": channel.value,
                "address": address, "purpose": n.purpose, "round": n.round,
                "step": n.step, "attempt": n.attempt, "short_code": codes[(person, stepped.id)],
                "body": n.note, "created_at": now, "updated_at": now, "status": repo.PENDING,
                "message_key": None, "not_before": None, "queued_at": None} for stepped, n in items]
            # A call the person's own rules asked for is never delayed (held pages go with it).
            asked_call = CHANNELS[channel].rings and any(n.personal for _r, n in items)
            wait_until = None if asked_call else self._storm_gate(conn, person, channel, now)
            if wait_until is not None:
                report.held += len(values)
                report.held_by_channel[channel.value] += len(values)
                rows += [{**v, "status": repo.HELD, "not_before": wait_until} for v in values]
                continue
            key = uuid.uuid4().hex
            if (person, channel.value) in holding:
                # Pages held back for this person go out in the same message.
                conn.execute(_HELD_TO_PENDING, {"b_person": person, "b_channel": channel.value, "b_key": key,
                                                "b_now": now})
                rows += [{**v, "message_key": key, "queued_at": now} for v in values]
                keys.append(key)
                continue
            live = [(stepped, v) for (stepped, _n), v in zip(items, values, strict=True)
                    if stepped.status == "triggered" or v["purpose"] != "page"]
            if not live:  # as the ledger's wording would: nothing left to send
                rows += [{**v, "status": repo.SUPPRESSED, "queued_at": now} for v in values]
                continue
            body = self._body([_Page.of(stepped, v) for stepped, v in live])
            rows += [{**v, "message_key": key, "queued_at": now, "body": body} if any(v is w for _s, w in live)
                     else {**v, "status": repo.SUPPRESSED, "queued_at": now} for v in values]
            worded.append(key)
        conn.execute(_INSERT_NOTIFICATIONS, rows)
        return worded + self._compose(conn, keys)

    def _storm_gate(self, conn: Connection, person: str, channel: Channel, now: datetime) -> datetime | None:
        """None when a message to this person on this channel may go out now, else when it may."""
        interval = self.settings().min_interval(channel)
        if interval <= timedelta(0):
            return None  # no storm limit on this channel
        return gate(repo.last_queued(conn, person, channel.value), interval, now)

    def _release_held(self, now: datetime, due: set[tuple[str, str]]) -> list[str]:
        """Held pages whose storm interval has passed (``due``: person, channel) go out as one
        bundle each."""
        with self.engine.begin() as conn:
            lock_people(conn, {person for person, _channel in due})
            keys: list[str] = []
            for person, channel in sorted(due):
                key = uuid.uuid4().hex
                if conn.execute(_HELD_TO_PENDING, {"b_person": person, "b_channel": channel, "b_key": key,
                                                   "b_now": now}).rowcount:
                    keys.append(key)
            keys = self._compose(conn, keys)
        if keys:
            self.checkpoint("released")
        return keys

    def _compose(self, conn: Connection, keys: list[str]) -> list[str]:
        """Drop rows whose incident no longer needs them, write each message's body.
        Returns the keys with something left to send."""
        if not keys:
            return []
        by_key: dict[str, list[Any]] = defaultdict(list)
        for row in conn.execute(_MESSAGE_ROWS, {"b_keys": keys}):
            by_key[row.message_key].append(row)
        dead: list[int] = []
        bodies: list[dict[str, str]] = []
        for key in keys:
            rows = by_key.get(key, [])
            live = [r for r in rows if r.state == "triggered" or r.purpose != "page"]
            dead += [r.id for r in rows if r not in live]
            if live:
                bodies.append({"b_key": key, "b_body": self._body(live)})
        if dead:
            conn.execute(update(notifications).where(notifications.c.id.in_(dead)).values(
                status=repo.SUPPRESSED, message_key=None))
        if bodies:
            conn.execute(_SET_BODY, bodies)
        return [b["b_key"] for b in bodies]

    def _body(self, live: list[Any]) -> str:
        pages = [PageSubject(incident_id=r.iid, short_code=r.short_code, priority=r.priority,
                             customer=r.customer, subject=r.subject, ticket_id=r.ticket_id)
                 for r in live]
        first = live[0]
        if len(live) == 1 and first.purpose != "page":
            return alert_text(first.body or first.purpose, pages[0])
        body = bundle_text(pages, Channel(first.channel))
        link = self.page_link(first.iid, first.person_id) if self.page_link and len(live) == 1 \
            and Channel(first.channel) is not Channel.VOICE else None
        return f"{body} {link}" if link else body

    # ---- claiming and sending -----------------------------------------------------

    def _claim(self, keys: list[str], now: datetime, report: RunReport) -> list[Claim]:
        """Claim the messages ``keys`` for this runner (see the module docstring), in one
        transaction: their rows move from ``pending`` to ``sending`` with this runner's name,
        a token and a deadline, after their incidents are re-checked there. A message
        another worker holds, or already claimed, is left out."""
        keys = list(dict.fromkeys(keys))
        for _ in keys:
            self.checkpoint("claiming")
        if not keys:
            return []
        taken_at = _boot_clock()
        with self.engine.begin() as conn:
            rows = conn.execute(self._pending_rows, {"b_keys": keys, "b_idle": self._idle}).all()
            if not rows:
                return []
            if shares_work(conn):
                # FOR UPDATE, in the incidents' order: an acknowledgement in flight either
                # commits before this read or waits for the claim.
                states = dict(conn.execute(_LOCK_INCIDENTS, {"b_ids": sorted({r.incident_id for r in rows})}).all())
            else:  # SQLite's BEGIN IMMEDIATE already serialises writers: read with the rows
                states = {r.incident_id: r.istate for r in rows}
            dead = [r for r in rows if r.purpose == "page" and states[r.incident_id] != "triggered"]
            if dead:
                conn.execute(update(notifications).where(notifications.c.id.in_([r.id for r in dead]))
                             .values(status=repo.CANCELLED, message_key=None, updated_at=now))
                repo.insert_audit(conn, [row for r in dead for row in repo.audit_rows(r.incident_id, now, [Record(
                    kind="notification", actor=r.person_id, channel=r.channel, outcome="cancelled",
                    detail=f"not sent: incident {states[r.incident_id]} before it went out")])])
                report.cancelled += len(dead)
            dead_ids = {r.id for r in dead}
            by_key: dict[str, list[Any]] = defaultdict(list)
            for r in rows:
                if r.id not in dead_ids:
                    by_key[r.message_key].append(r)
            cut = {r.message_key for r in dead} & set(by_key)
            recomposed = set(self._compose(conn, sorted(cut)))  # the bundles without the cancelled pages
            bodies = {} if not recomposed else dict(conn.execute(
                select(notifications.c.message_key, notifications.c.body).distinct()
                .where(notifications.c.message_key.in_(recomposed))).all())
            claims = [Claim(key=key, token=uuid.uuid4().hex, rows=group,
                            body=bodies.get(key, group[0].body), taken_at=taken_at)
                      for key, group in by_key.items()]
            if claims:
                times = time_params(now, self.claim_for)
                conn.execute(self._claim_rows, [{**times, "b_key": c.key, "b_token": c.token, "b_me": self.worker_id,
                                                 "b_now": now} for c in claims])
        return claims

    def _send_all(self, claims: list[Claim], now: datetime, report: RunReport) -> None:
        """Hand the claimed messages over, concurrently: one slow or retrying provider call
        must not hold back every other person's page. Each message keeps its own ledger
        protocol. While any is under way, the claims not yet settled are renewed every third
        of their life, so a long provider call is never taken for a dead one (a frozen or
        killed runner renews nothing: its claims expire). Every send ends before the pass
        does, so between passes this runner has nothing in flight."""
        if not claims:
            return
        futures = {self._senders.submit(self._send, c, now, report): c for c in claims}
        under_way = set(futures)
        try:
            while under_way:
                _done, under_way = wait(under_way, timeout=self.claim_for.total_seconds() / 3)
                if under_way:
                    try:
                        self._renew([futures[f] for f in under_way], now)
                    except Exception:  # the database unreachable: claims may expire, as for a frozen runner
                        log.warning("claims could not be renewed", exc_info=True)
        finally:
            wait(futures)  # never leave a send in flight behind a pass: the next would take it for abandoned
        for f in futures:
            f.result()

    def _renew(self, claims: list[Claim], now: datetime) -> None:
        """Push the deadline of these claims, still this runner's, another ``claim_for`` away."""
        taken_at = _boot_clock()
        with self.engine.begin() as conn:
            renewed = set(conn.execute(self._renew_many, {**time_params(now, self.claim_for),
                                                          "b_tokens": [c.token for c in claims]}).scalars())
        for claim in claims:
            if claim.token in renewed:
                claim.taken_at = taken_at

    def _send(self, claim: Claim, now: datetime, report: RunReport) -> None:
        self.checkpoint("before_send")
        if not self._still_ours(claim, now):
            with self._settle_lock:
                report.lost += 1
            return
        first = claim.rows[0]
        message = Outbound(key=claim.key, channel=Channel(first.channel), to=first.address,
                           person_id=first.person_id,
                           incident_ids=tuple(sorted({r.incident_id for r in claim.rows})),
                           text=claim.body, subject=claim.body[:78])
        provider_id: str | None = None
        error: DeliveryError | None = None
        try:
            if message.channel not in self.transport.channels():
                raise PermanentDeliveryError(f"no transport for {message.channel}")
            provider_id = self.transport.send(message).provider_id
        except DeliveryError as exc:
            error = exc
        self.checkpoint("after_send")
        with self._settle_lock, self.engine.begin() as conn:
            self._settle(conn, claim, provider_id, error, now, report)
        self.checkpoint("settled")

    def _still_ours(self, claim: Claim, now: datetime) -> bool:
        """Re-validate the claim right before the provider call: still ``sending`` under its
        token and before its deadline — renewed then for another ``claim_for``."""
        if _boot_clock() - claim.taken_at < self.fresh:
            return True
        taken_at = _boot_clock()
        with self.engine.begin() as conn:
            renewed = conn.execute(self._renew_one, {**time_params(now, self.claim_for), "b_key": claim.key,
                                                 "b_token": claim.token}).rowcount
        claim.taken_at = taken_at
        return bool(renewed == len(claim.rows))

    def _settle(self, conn: Connection, claim: Claim, provider_id: str | None,
                error: DeliveryError | None, now: datetime, report: RunReport) -> None:
        code = getattr(error, "code", None)
        mine = {"b_key": claim.key, "b_token": claim.token, "b_now": now}
        if error is None:
            changed = conn.execute(_SETTLE_SENT, {**mine, "b_provider_id": provider_id}).rowcount
        else:
            changed = conn.execute(_SETTLE_FAILED, {**mine, "b_error": str(code) if code else "transport"}).rowcount
        outcome = "sent" if error is None else "failed"
        if not changed:
            # The claim expired and was taken over (marked unknown, resent once) while this
            # call was under way: say what happened; the resend stands.
            report.late += 1
            if provider_id:
                conn.execute(_LATE_PROVIDER_ID, {**mine, "b_provider_id": provider_id})
            repo.insert_audit(conn, [row for r in claim.rows for row in repo.audit_rows(r.incident_id, now, [Record(
                kind="notification", actor=r.person_id, channel=r.channel, outcome=f"late {outcome}",
                detail="the outcome came after the claim expired; the resend stands"
                       + ("" if error is None else f": {error}"))])])
            return
        if error is None:
            report.sent += 1
        else:
            report.failed += 1
        repo.insert_audit(conn, [row for r in claim.rows for row in repo.audit_rows(r.incident_id, now, [Record(
            kind="notification", actor=r.person_id, channel=r.channel, outcome=outcome,
            detail=(f"attempt {r.attempt}" + (" (resend)" if r.resend_of else "")
                    + ("" if error is None else f": {error}")))])])
        if error is None:
            return
        for r in claim.rows:
            if r.purpose == "page":
                failure = DeliveryFailed(person_id=r.person_id, channel=Channel(r.channel),
                                         round=r.round, step=r.step, reason=str(error),
                                         sms_blocked=texted_stop(error, r.channel))
                feed_failure(conn, r.incident_id, failure, now)
                report.failovers += 1

    # ---- recovery -----------------------------------------------------------------

    def _recover(self, now: datetime, report: RunReport) -> list[str]:
        """What is waiting at the start of a pass, in one read: messages never claimed,
        claims a dead or frozen sender left behind (see the module docstring), held pages now
        due. Returns the keys to send: unclaimed messages, the one resend of each unknown
        outcome, and the released bundles."""
        with self._reader.connect() as conn:
            waiting = conn.execute(self._waiting, {"b_now": now, "b_me": self.worker_id}).all()
        keys = list(dict.fromkeys(r.message_key for r in waiting if r.status == repo.PENDING))
        stale = list(dict.fromkeys(r.message_key for r in waiting if r.status == repo.SENDING and r.abandoned))
        if stale:
            with self.engine.begin() as conn:
                if shares_work(conn):
                    # Locked in the ledger's order, still abandoned once locked: a second runner
                    # after the same message waits for the first and finds nothing to recover.
                    rows = conn.execute(_ABANDONED, {"b_me": self.worker_id, "b_keys": stale}).all()
                else:
                    rows = conn.execute(_CLAIMED).all()
                claimed: dict[str, list[Any]] = defaultdict(list)
                for r in rows:
                    claimed[r.message_key].append(r)
                for key, group in claimed.items():
                    keys += self._recover_claimed(conn, key, group, now, report)
        held = {(r.person_id, r.channel) for r in waiting if r.status == repo.HELD}
        if held:
            keys += self._release_held(now, held)
        return keys

    def _recover_claimed(self, conn: Connection, key: str, group: list[Any], now: datetime,
                         report: RunReport) -> list[str]:
        """A claimed message's outcome is unknown: resend it once, or, for a resend,
        feed the failure to the engine so the person's next method goes out now."""
        conn.execute(update(notifications).where(and_(
            notifications.c.id.in_([r.id for r in group]), notifications.c.status == repo.SENDING))
            .values(status=repo.UNKNOWN, updated_at=now))
        live = [r for r in group if r.istate == "triggered" or r.purpose != "page"]
        again = [r for r in live if r.resend_of is None]
        lost = [r for r in live if r.resend_of is not None and r.purpose == "page"]
        for r in group:
            repo.write_audit(conn, r.incident_id, now, [Record(
                kind="notification", actor=r.person_id, channel=r.channel,
                outcome="unknown", detail="outcome unknown at crash" + (
                    "; resending once" if r in again else
                    "; a resend, so not resent: treated as not delivered" if r in lost
                    else "; not resent"))])
        for r in lost:
            feed_failure(conn, r.incident_id, DeliveryFailed(
                person_id=r.person_id, channel=Channel(r.channel), round=r.round, step=r.step,
                reason="not known to have gone out: the page and its resend were both "
                       "caught by crashes"), now)
            report.failovers += 1
        if not again:
            return []
        new_key = f"{key[:24]}-resend"
        conn.execute(insert(notifications), [{
            "incident_id": r.incident_id, "person_id": r.person_id,
            "channel": r.channel, "address": r.address, "status": repo.PENDING,
            "purpose": r.purpose, "round": r.round, "step": r.step,
            "attempt": r.attempt, "message_key": new_key, "resend_of": r.id,
            "short_code": r.short_code, "body": r.body, "queued_at": now,
            "created_at": now, "updated_at": now} for r in again])
        report.resent += len(again)
        return [new_key]


@dataclass(frozen=True)
class _Stepped:
    """An incident of the batch being stepped: its row as read, its status after the step,
    and whether this step was its first (so nobody has a reply code for it yet)."""

    row: Any
    status: str
    first: bool

    @property
    def id(self) -> int:
        return int(self.row.id)


@dataclass(frozen=True)
class _Page:
    """What wording a message needs of one of its rows (the ledger's columns' names)."""

    iid: int
    short_code: int
    priority: str
    customer: str | None
    subject: str
    ticket_id: str
    purpose: str
    body: str
    channel: str
    person_id: str

    @classmethod
    def of(cls, stepped: _Stepped, values: dict[str, Any]) -> _Page:
        row = stepped.row
        return cls(iid=stepped.id, short_code=values["short_code"], priority=row.priority, customer=row.customer,
                   subject=row.subject, ticket_id=row.ticket_id, purpose=values["purpose"], body=values["body"],
                   channel=values["channel"], person_id=values["person_id"])


# ---- statements, built once (compiled once per dialect) ------------------------------------

_DUE = (select(incidents).where(incidents.c.next_action_at <= bindparam("b_now"))
        .order_by(incidents.c.next_action_at).limit(bindparam("b_limit"))
        .with_for_update(skip_locked=True))
_INSERT_NOTIFICATIONS = insert(notifications).returning(notifications.c.id)  # one statement: see repo
_MINE = and_(notifications.c.message_key == bindparam("b_key"), notifications.c.claim_token == bindparam("b_token"))
_SETTLE_SENT = update(notifications).where(and_(_MINE, notifications.c.status == repo.SENDING)).values(
    status=repo.SENT, provider_id=bindparam("b_provider_id"), updated_at=bindparam("b_now"))
_SETTLE_FAILED = update(notifications).where(and_(_MINE, notifications.c.status == repo.SENDING)).values(
    status=repo.FAILED, error_code=bindparam("b_error"), updated_at=bindparam("b_now"))
_LATE_PROVIDER_ID = update(notifications).where(_MINE).values(provider_id=bindparam("b_provider_id"))
_HELD_TO_PENDING = update(notifications).where(and_(
    notifications.c.person_id == bindparam("b_person"), notifications.c.channel == bindparam("b_channel"),
    notifications.c.status == repo.HELD)).values(
    status=repo.PENDING, message_key=bindparam("b_key"), queued_at=bindparam("b_now"), updated_at=bindparam("b_now"))
_HOLDING = select(notifications.c.person_id, notifications.c.channel).where(
    notifications.c.status == repo.HELD).distinct()
_MESSAGE_ROWS = (
    select(notifications.c.id, notifications.c.message_key, notifications.c.purpose, notifications.c.body,
           notifications.c.short_code, notifications.c.channel, notifications.c.person_id,
           incidents.c.id.label("iid"), incidents.c.state, incidents.c.priority, incidents.c.customer,
           incidents.c.subject, incidents.c.ticket_id)
    .join(incidents, incidents.c.id == notifications.c.incident_id)
    .where(notifications.c.message_key.in_(bindparam("b_keys", expanding=True)))
    .order_by(notifications.c.id))
_SET_BODY = update(notifications).where(notifications.c.message_key == bindparam("b_key")).values(
    body=bindparam("b_body"))
_PENDING_ROWS = (select(notifications, incidents.c.state.label("istate"))
                 .join(incidents, incidents.c.id == notifications.c.incident_id)
                 .where(and_(notifications.c.message_key.in_(bindparam("b_keys", expanding=True)),
                             notifications.c.status == repo.PENDING))
                 .order_by(notifications.c.id).with_for_update(of=notifications))
_LOCK_INCIDENTS = (select(incidents.c.id, incidents.c.state)
                   .where(incidents.c.id.in_(bindparam("b_ids", expanding=True)))
                   .order_by(incidents.c.id).with_for_update())
_CLAIMED = (select(notifications, incidents.c.state.label("istate"))
            .join(incidents, incidents.c.id == notifications.c.incident_id)
            .where(notifications.c.status == repo.SENDING).order_by(notifications.c.id))
# PostgreSQL: claims past their deadline by the database's clock, claims made before claims
# had deadlines, and this runner's own (it has nothing in flight between passes).
_ABANDONED_WHERE = and_(notifications.c.status == repo.SENDING, or_(
    notifications.c.claim_deadline.is_(None), notifications.c.claim_deadline < func.now(),
    notifications.c.claimed_by == bindparam("b_me")))
_ABANDONED = (select(notifications, incidents.c.state.label("istate"))
              .join(incidents, incidents.c.id == notifications.c.incident_id)
              .where(and_(_ABANDONED_WHERE, notifications.c.message_key.in_(bindparam("b_keys", expanding=True))))
              .order_by(notifications.c.id).with_for_update(of=notifications))


def _waiting(shared: bool) -> Select[Any]:
    """The rows that may need this pass's attention: pending and sending messages, and held
    pages now due; ``abandoned`` tells a sending claim nobody is working on (see the module
    docstring) — on SQLite, one instance whose runner has nothing in flight between passes,
    every one."""
    abandoned = or_(notifications.c.claim_deadline.is_(None), notifications.c.claim_deadline < func.now(),
                    notifications.c.claimed_by == bindparam("b_me")) if shared else literal(True)
    return (select(notifications.c.id, notifications.c.status, notifications.c.message_key,
                   notifications.c.person_id, notifications.c.channel, abandoned.label("abandoned"))
            .where(or_(notifications.c.status.in_((repo.PENDING, repo.SENDING)),
                       and_(notifications.c.status == repo.HELD, notifications.c.not_before <= bindparam("b_now"))))
            .order_by(notifications.c.id))


def _holding(conn: Connection) -> set[tuple[str, str]]:
    """(person, channel) pairs with pages held by the storm limit."""
    return {(p, c) for p, c in conn.execute(_HOLDING)}


def feed_failure(conn: Connection, incident_id: int, failure: DeliveryFailed,
                 now: datetime) -> None:
    """Queue a delivery failure for the engine and make the incident due now."""
    for _ in range(5):  # optimistic lock: re-read on conflict
        inc = repo.load(conn, incident_id)
        if inc is None or not inc.state.is_open:
            return
        if repo.save_state(conn, incident_id, inc.version, inc.engine.queue(failure), now):
            return
    raise RuntimeError(f"incident {incident_id}: could not record a delivery failure")


def next_wakeup(conn: Connection) -> datetime | None:
    """The earliest instant with work: a due step or a held page's release."""
    candidates = [
        conn.execute(select(func.min(incidents.c.next_action_at))).scalar(),
        conn.execute(select(func.min(notifications.c.not_before)).where(
            notifications.c.status == repo.HELD)).scalar(),
    ]
    found = [as_utc(c) for c in candidates]
    return min((f for f in found if f is not None), default=None)
