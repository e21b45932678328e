"""The thin runner: loads due incidents, calls the pure engine, writes the result
and hands notifications to the transport.

Crash-safety protocol for sends:

1. the engine's new state and the ledger rows (status ``pending``, or ``held`` by
   the storm limit) are committed in one transaction — a step is never lost;
2. the message is claimed: its rows move to ``sending`` in a transaction that also
   re-reads (and, on PostgreSQL, locks) their incidents, so an acknowledgement that
   committed first always wins — a page for an incident no longer triggered is
   ``cancelled`` there and never handed over;
3. only then is the transport called;
4. then the rows are marked ``sent`` or ``failed`` (a failure is fed back to the
   engine as a :class:`DeliveryFailed` event so the person's next method goes out).

Recovery, at the start of every pass (so not only after a restart: between passes
this runner has nothing in flight, so whatever it finds was left by a dead sender):
a ``pending`` row never reached the transport and is simply sent. A ``sending`` row
has an unknown outcome: it is marked ``unknown`` and resent once (a new row with
``resend_of``), unless its incident is no longer triggered. A resend whose outcome is
unknown too is not resent again; its page is treated as not delivered — a
:class:`DeliveryFailed` — so the person's next contact method goes out at once
instead of the step waiting out its delay. One runner per database (several would
need a deadline on each claim before treating it as abandoned).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update

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
from oncall.store.tables import incidents, notifications
from oncall.store.types import as_utc

SENDERS = 8  # messages handed to the transport at the same time
MAX_PASSES = 5  # failovers produce new due work; a few passes settle it


@dataclass
class RunReport:
    stepped: int = 0
    sent: int = 0
    failed: int = 0
    held: int = 0
    resent: int = 0
    cancelled: int = 0
    conflicts: int = 0
    held_by_channel: Counter[str] = field(default_factory=Counter)
    lateness: list[float] = field(default_factory=list)  # seconds each step fired after it was due


def _noop(_name: str) -> None:
    return None


class Runner:
    """``run_due(now)`` is all the daemon calls (from its tick and its precise
    wake-up job); ``next_wakeup()`` says when to call it next."""

    def __init__(self, engine: Engine, transport: Transport, directory: Callable[[], Directory],
                 settings: Callable[[], NotificationSettings], *, batch: int = 500,
                 checkpoint: Callable[[str], None] = _noop,
                 page_link: Callable[[int, str], str | None] | None = None) -> None:
        self.engine = engine
        # (incident id, person id) -> a short link that opens that incident for that person
        # (the console's incident links); appended to a one-incident SMS or e-mail page.
        self.page_link = page_link
        self.transport = transport
        self.directory = directory
        self.settings = settings
        self.batch = batch
        self.checkpoint = checkpoint  # crash tests kill the process at these points
        self._lock = threading.Lock()
        self._settle_lock = threading.Lock()  # report counters and settlements, one at a time
        self._senders = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="oncall-send")
        self._policies: dict[str, EscalationPolicy] = {}

    # ---- public -------------------------------------------------------------------

    def run_due(self, now: datetime) -> RunReport:
        report = RunReport()
        with self._lock:
            # Every send of the previous pass has finished (or died): what is still
            # pending or claimed now was left behind.
            keys = self._recover(now, report)
            for _ in range(MAX_PASSES):
                keys += self._step_due(now, report)
                keys += self._release_held(now)
                if len(keys) > 1:
                    # Concurrently: one slow or retrying provider call must not hold back
                    # every other person's page. Each message keeps its own ledger protocol.
                    list(self._senders.map(lambda k: self._send(k, now, report), keys))
                else:
                    for key in keys:
                        self._send(key, now, report)
                if not keys and not self._has_due(now):
                    break
                keys = []
        return report

    def next_wakeup(self) -> datetime | None:
        with self.engine.connect() as conn:
            return next_wakeup(conn)

    # ---- stepping -----------------------------------------------------------------

    def _policy(self, data: dict[str, Any]) -> EscalationPolicy:
        key = json.dumps(data, sort_keys=True)
        if key not in self._policies:
            self._policies[key] = EscalationPolicy.model_validate(data)
        return self._policies[key]

    def _has_due(self, now: datetime) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(incidents.c.id).where(
                incidents.c.next_action_at <= now).limit(1)).first() is not None

    def _step_due(self, now: datetime, report: RunReport) -> list[str]:
        directory = self.directory()
        with self.engine.begin() as conn:
            rows = conn.execute(select(incidents).where(incidents.c.next_action_at <= now)
                                .order_by(incidents.c.next_action_at).limit(self.batch)).all()
            if not rows:
                return []
            notifies: list[tuple[Any, Notify]] = []
            for row in rows:
                state = state_from_json(row.engine_state)
                new, actions = step(state, self._policy(row.policy_json), directory, now)
                if not repo.save_state(conn, row.id, row.version, new, now):
                    report.conflicts += 1
                    continue
                report.stepped += 1
                due = as_utc(row.next_action_at)
                report.lateness.append(max(0.0, (now - due).total_seconds()) if due else 0.0)
                repo.write_audit(conn, row.id, now, [a for a in actions if isinstance(a, Record)])
                notifies += [(row, a) for a in actions if isinstance(a, Notify)]
            keys = self._enqueue(conn, notifies, directory, now, report)
        self.checkpoint("stepped")
        return keys

    def _enqueue(self, conn: Connection, notifies: list[tuple[Any, Notify]],
                 directory: Directory, now: datetime, report: RunReport) -> list[str]:
        """Write ledger rows; per person and channel one message now, or hold them."""
        groups: dict[tuple[str, Channel], list[tuple[Any, Notify]]] = defaultdict(list)
        for row, n in notifies:
            groups[(n.person_id, n.channel)].append((row, n))
        codes: dict[str, dict[int, int]] = {}
        keys: list[str] = []
        for (person, channel), items in groups.items():
            contact = directory.contact(person)
            address = contact.address(channel) if contact else None
            if not address:
                for row, _n in items:
                    repo.write_audit(conn, row.id, now, [Record(
                        kind="notification_skipped", actor=person, channel=channel.value,
                        detail="no address for this channel")])
                continue
            used = codes.setdefault(person, repo.codes_in_use(conn, person))
            values = []
            for row, n in items:
                code = used.get(row.id) or repo.smallest_free_code(used.values())
                used[row.id] = code
                values.append({
                    "incident_id": row.id, "person_id": person, "channel": channel.value,
                    "address": address, "purpose": n.purpose, "round": n.round,
                    "step": n.step, "attempt": n.attempt, "short_code": code,
                    "body": n.note, "created_at": now, "updated_at": now})
            # A call the person's own rules asked for is never delayed (held pages go with it).
            asked_call = CHANNELS[channel].rings and any(n.personal for _r, n in items)
            wait = None if asked_call else gate(repo.last_queued(conn, person, channel.value),
                                                self.settings().min_interval(channel), now)
            if wait is not None:
                report.held += len(values)
                report.held_by_channel[channel.value] += len(values)
                conn.execute(insert(notifications),
                             [{**v, "status": repo.HELD, "not_before": wait} for v in values])
                continue
            key = uuid.uuid4().hex
            conn.execute(insert(notifications), [
                {**v, "status": repo.PENDING, "message_key": key, "queued_at": now}
                for v in values])
            # Pages held back for this person go out in the same message.
            conn.execute(update(notifications).where(and_(
                notifications.c.person_id == person, notifications.c.channel == channel.value,
                notifications.c.status == repo.HELD)).values(
                    status=repo.PENDING, message_key=key, queued_at=now, updated_at=now))
            self._compose(conn, key)
            keys.append(key)
        return keys

    def _release_held(self, now: datetime) -> list[str]:
        """Held pages whose storm interval has passed go out as one bundle each."""
        keys: list[str] = []
        with self.engine.begin() as conn:
            due = conn.execute(select(notifications.c.person_id, notifications.c.channel)
                               .where(and_(notifications.c.status == repo.HELD,
                                           notifications.c.not_before <= now))
                               .distinct()).all()
            for person, channel in due:
                key = uuid.uuid4().hex
                conn.execute(update(notifications).where(and_(
                    notifications.c.person_id == person, notifications.c.channel == channel,
                    notifications.c.status == repo.HELD)).values(
                        status=repo.PENDING, message_key=key, queued_at=now, updated_at=now))
                if self._compose(conn, key):
                    keys.append(key)
        if keys:
            self.checkpoint("released")
        return keys

    def _compose(self, conn: Connection, key: str) -> bool:
        """Drop rows whose incident no longer needs them, write the message body."""
        rows = conn.execute(
            select(notifications.c.id, notifications.c.purpose, notifications.c.body,
                   notifications.c.short_code, notifications.c.channel, notifications.c.person_id,
                   incidents.c.id.label("iid"),
                   incidents.c.state, incidents.c.priority, incidents.c.customer,
                   incidents.c.subject, incidents.c.ticket_id)
            .join(incidents, incidents.c.id == notifications.c.incident_id)
            .where(notifications.c.message_key == key)
            .order_by(notifications.c.id)).all()
        live = [r for r in rows if r.state == "triggered" or r.purpose != "page"]
        live_ids = {r.id for r in live}
        dead = [r.id for r in rows if r.id not in live_ids]
        if dead:
            conn.execute(update(notifications).where(notifications.c.id.in_(dead)).values(
                status=repo.SUPPRESSED, message_key=None))
        if not live:
            return False
        pages = [PageSubject(incident_id=r.iid, short_code=r.short_code, priority=r.priority,
                             customer=r.customer, subject=r.subject, ticket_id=r.ticket_id)
                 for r in live]
        first = live[0]
        if len(live) == 1 and first.purpose != "page":
            body = alert_text(first.body or first.purpose, pages[0])
        else:
            body = bundle_text(pages, Channel(first.channel))
            link = self.page_link(first.iid, first.person_id) if self.page_link and len(live) == 1 \
                and Channel(first.channel) is not Channel.VOICE else None
            if link:
                body = f"{body} {link}"
        conn.execute(update(notifications).where(notifications.c.message_key == key)
                     .values(body=body))
        return True

    # ---- sending ------------------------------------------------------------------

    def _send(self, key: str, now: datetime, report: RunReport) -> None:
        self.checkpoint("claiming")
        with self.engine.begin() as conn:
            rows, cancelled = self._claim(conn, key, now)
        if cancelled:
            with self._settle_lock:
                report.cancelled += cancelled
        if not rows:
            return
        first = rows[0]
        message = Outbound(key=key, channel=Channel(first.channel), to=first.address,
                           person_id=first.person_id,
                           incident_ids=tuple(sorted({r.incident_id for r in rows})),
                           text=first.body, subject=first.body[:78])
        self.checkpoint("before_send")
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
            self._settle(conn, rows, provider_id, error, now, report)
        self.checkpoint("settled")

    def _claim(self, conn: Connection, key: str, now: datetime) -> tuple[Sequence[Any], int]:
        """Move the message's rows from ``pending`` to ``sending``, after re-checking
        their incidents in this transaction. Returns the claimed rows (empty when
        nothing is left to send) and how many were cancelled."""
        rows = conn.execute(select(notifications.c.id, notifications.c.incident_id,
                                   notifications.c.person_id, notifications.c.channel,
                                   notifications.c.purpose).where(and_(
            notifications.c.message_key == key, notifications.c.status == repo.PENDING))).all()
        if not rows:
            return [], 0
        # FOR UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers): an
        # acknowledgement in flight either commits before this read or waits for the claim.
        states = dict(conn.execute(
            select(incidents.c.id, incidents.c.state)
            .where(incidents.c.id.in_({r.incident_id for r in rows}))
            .order_by(incidents.c.id).with_for_update()).all())
        dead = [r for r in rows if r.purpose == "page" and states[r.incident_id] != "triggered"]
        if dead:
            conn.execute(update(notifications).where(notifications.c.id.in_([r.id for r in dead]))
                         .values(status=repo.CANCELLED, message_key=None, updated_at=now))
            for r in dead:
                repo.write_audit(conn, r.incident_id, now, [Record(
                    kind="notification", actor=r.person_id, channel=r.channel,
                    outcome="cancelled",
                    detail=f"not sent: incident {states[r.incident_id]} before it went out")])
            if len(dead) == len(rows):
                return [], len(dead)
            self._compose(conn, key)  # the bundle without the cancelled pages
        conn.execute(update(notifications).where(and_(
            notifications.c.message_key == key, notifications.c.status == repo.PENDING))
            .values(status=repo.SENDING, updated_at=now))
        claimed = conn.execute(select(notifications).where(and_(
            notifications.c.message_key == key, notifications.c.status == repo.SENDING))
            .order_by(notifications.c.id)).all()
        return claimed, len(dead)

    def _settle(self, conn: Connection, rows: Sequence[Any], provider_id: str | None,
                error: DeliveryError | None, now: datetime, report: RunReport) -> None:
        ids = [r.id for r in rows]
        code = getattr(error, "code", None)
        if error is None:
            report.sent += 1
            conn.execute(update(notifications).where(notifications.c.id.in_(ids)).values(
                status=repo.SENT, provider_id=provider_id, updated_at=now))
        else:
            report.failed += 1
            conn.execute(update(notifications).where(notifications.c.id.in_(ids)).values(
                status=repo.FAILED, error_code=str(code) if code else "transport",
                updated_at=now))
        for r in rows:
            repo.write_audit(conn, r.incident_id, now, [Record(
                kind="notification", actor=r.person_id, channel=r.channel,
                outcome="sent" if error is None else "failed",
                detail=(f"attempt {r.attempt}" + (" (resend)" if r.resend_of else "")
                        + ("" if error is None else f": {error}")))])
            if error is not None and r.purpose == "page":
                failure = DeliveryFailed(person_id=r.person_id, channel=Channel(r.channel),
                                         round=r.round, step=r.step, reason=str(error),
                                         sms_blocked=texted_stop(error, r.channel))
                feed_failure(conn, r.incident_id, failure, now)

    # ---- recovery -----------------------------------------------------------------

    def _recover(self, now: datetime, report: RunReport) -> list[str]:
        """Messages a dead sender left behind (see the module docstring). Returns the
        keys to send: unclaimed messages, and the one resend of each unknown outcome."""
        keys: list[str] = []
        with self.engine.begin() as conn:
            rows = conn.execute(select(notifications, incidents.c.state.label("istate"))
                                .join(incidents, incidents.c.id == notifications.c.incident_id)
                                .where(notifications.c.status.in_((repo.PENDING, repo.SENDING)))
                                .order_by(notifications.c.id)).all()
            claimed: dict[str, list[Any]] = defaultdict(list)
            for r in rows:
                if r.status == repo.PENDING:
                    if r.message_key not in keys:
                        keys.append(r.message_key)  # never handed over: send it as it is
                else:
                    claimed[r.message_key].append(r)
            for key, group in claimed.items():
                keys += self._recover_claimed(conn, key, group, now, report)
        return keys

    def _recover_claimed(self, conn: Connection, key: str, group: list[Any], now: datetime,
                         report: RunReport) -> list[str]:
        """A claimed message's outcome is unknown: resend it once, or, for a resend,
        feed the failure to the engine so the person's next method goes out now."""
        conn.execute(update(notifications).where(and_(
            notifications.c.message_key == key, notifications.c.status == repo.SENDING))
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
