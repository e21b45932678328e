"""Read a daemon's database and check the paging ledger against what must hold.

Used by the crash and fault tests after the daemon was killed and restarted. The
checks return a list of violations (empty when everything holds), so a failing test
prints every broken promise at once:

* every accepted ticket was stored, processed and has exactly one incident;
* every incident's steps were paged in order, none skipped (round, step contiguous);
* each ledger message reached Twilio exactly once when ``sent``, at most once when
  its outcome was ``unknown`` (then resent once, never a resend of a resend);
* nothing reached Twilio that the ledger does not know;
* acknowledged incidents stay acknowledged and get no new page afterwards.

The reader opens its own engine with SQLite's default deferred transactions, so
reading never takes the write lock the daemon needs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Engine, create_engine, select

from oncall.store.tables import incidents, notifications, ticket_events

SENT, UNKNOWN, PENDING, SENDING, HELD, SUPPRESSED, FAILED, CANCELLED = (
    "sent", "unknown", "pending", "sending", "held", "suppressed", "failed", "cancelled")
# Admin alerts and hand-off notices go straight to the transport, outside the ledger.
OUTSIDE_LEDGER = ("alert-", "handoff-")


@dataclass(frozen=True, kw_only=True)
class Row:
    """One notification ledger row (the columns the checks need)."""

    id: int
    incident_id: int
    person_id: str
    channel: str
    status: str
    purpose: str
    round: int
    step: int
    message_key: str | None
    resend_of: int | None
    short_code: int
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class IncidentRow:
    id: int
    ticket_id: str
    state: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class Ledger:
    events: dict[str, list[bool]]  # ticket id → processed flag per stored event
    incidents: list[IncidentRow]
    rows: list[Row]

    def incident_for(self, ticket_id: str) -> list[IncidentRow]:
        return [i for i in self.incidents if i.ticket_id == ticket_id]

    def rows_for(self, incident_id: int) -> list[Row]:
        return [r for r in self.rows if r.incident_id == incident_id]


def reader(url: str) -> Engine:
    """An engine for reading the daemon's database without taking its write lock."""
    return create_engine(url)


def read_ledger(engine: Engine) -> Ledger:
    with engine.connect() as conn:
        events: dict[str, list[bool]] = defaultdict(list)
        for e in conn.execute(select(ticket_events.c.ticket_id, ticket_events.c.processed_at)
                              .order_by(ticket_events.c.id)):
            events[e.ticket_id].append(e.processed_at is not None)
        incs = [IncidentRow(id=i.id, ticket_id=i.ticket_id, state=i.state,
                            acknowledged_by=i.acknowledged_by, acknowledged_at=i.acknowledged_at)
                for i in conn.execute(select(incidents).order_by(incidents.c.id))]
        rows = [Row(id=r.id, incident_id=r.incident_id, person_id=r.person_id, channel=r.channel,
                    status=r.status, purpose=r.purpose, round=r.round, step=r.step,
                    message_key=r.message_key, resend_of=r.resend_of, short_code=r.short_code,
                    created_at=r.created_at)
                for r in conn.execute(select(notifications).order_by(notifications.c.id))]
    return Ledger(events=dict(events), incidents=incs, rows=rows)


def key_of(callback_url: str | None) -> str | None:
    """The ledger message key in a status-callback URL (``…/twilio/status?key=K``)."""
    if not callback_url:
        return None
    return parse_qs(urlsplit(callback_url).query).get("key", [None])[0]


def twilio_keys(items: Iterable[Any]) -> Counter[str]:
    """How many accepted Twilio messages/calls carry each ledger key."""
    counts: Counter[str] = Counter()
    for item in items:
        counts[key_of(item.status_callback) or f"<no key: {item.sid}>"] += 1
    return counts


def check_tickets(ledger: Ledger, tickets: Iterable[str]) -> list[str]:
    """Every ticket stored, every stored event processed, exactly one incident each."""
    problems = []
    for t in tickets:
        flags = ledger.events.get(t)
        if not flags:
            problems.append(f"ticket {t}: lost (never stored)")
        elif not all(flags):
            problems.append(f"ticket {t}: stored but not processed")
        found = ledger.incident_for(t)
        if len(found) != 1:
            problems.append(f"ticket {t}: {len(found)} incidents, expected 1")
    return problems


def check_steps(ledger: Ledger) -> list[str]:
    """Pages of each incident cover (round, step) contiguously: no step skipped."""
    problems = []
    for inc in ledger.incidents:
        seen = sorted({(r.round, r.step) for r in ledger.rows_for(inc.id) if r.purpose == "page"})
        if not seen:
            problems.append(f"incident {inc.id}: never paged")
            continue
        if seen[0] != (0, 0):
            problems.append(f"incident {inc.id}: first page is {seen[0]}, not (0, 0)")
        for (r1, s1), (r2, s2) in pairwise(seen):
            if not ((r2 == r1 and s2 == s1 + 1) or (r2 == r1 + 1 and s2 == 0)):
                problems.append(f"incident {inc.id}: step skipped between {(r1, s1)} and {(r2, s2)}")
    return problems


def check_sends(ledger: Ledger, sent: Counter[str]) -> list[str]:
    """Each message key reached Twilio as often as its status allows; resends once."""
    problems = []
    by_key: dict[str, list[Row]] = defaultdict(list)
    for r in ledger.rows:
        if r.message_key:
            by_key[r.message_key].append(r)
    for key, count in sent.items():
        if key not in by_key and not key.startswith(OUTSIDE_LEDGER):
            problems.append(f"twilio got {count} message(s) with key {key} the ledger does not know")
    for key, group in by_key.items():
        statuses = {r.status for r in group}
        n = sent.get(key, 0)
        if statuses == {SENT} and n != 1:
            problems.append(f"key {key}: ledger says sent, twilio got {n}")
        elif statuses == {UNKNOWN} and n > 1:
            problems.append(f"key {key}: outcome unknown, twilio got {n}")
        elif statuses & {PENDING, SENDING}:
            problems.append(f"key {key}: still {sorted(statuses)} after a clean stop")
        elif statuses == {FAILED} and n:
            problems.append(f"key {key}: ledger says failed, twilio accepted {n}")
        elif statuses <= {SUPPRESSED, HELD, CANCELLED} and n:
            problems.append(f"key {key}: {statuses} but twilio got {n}")
    by_id = {r.id: r for r in ledger.rows}
    resends: Counter[int] = Counter(r.resend_of for r in ledger.rows if r.resend_of is not None)
    for original, times in resends.items():
        first = by_id.get(original)
        if times > 1:
            problems.append(f"row {original}: resent {times} times")
        if first is None or first.status != UNKNOWN:
            problems.append(f"row {original}: resent but its outcome was not unknown")
        elif first.resend_of is not None:
            problems.append(f"row {original}: a resend was resent")
    for r in ledger.rows:
        if r.status == UNKNOWN and r.resend_of is None and r.id not in resends:
            inc = next(i for i in ledger.incidents if i.id == r.incident_id)
            if inc.state == "triggered":
                problems.append(f"row {r.id}: outcome unknown and never resent")
    return problems


def delivered(ledger: Ledger, sent: Counter[str], row: Row) -> int:
    """Twilio messages that carried ``row``'s page: same incident, round, step, person
    and channel (the original and any resend)."""
    keys = {r.message_key for r in ledger.rows_for(row.incident_id)
            if (r.round, r.step, r.person_id, r.channel, r.purpose)
            == (row.round, row.step, row.person_id, row.channel, row.purpose) and r.message_key}
    return sum(sent.get(k, 0) for k in keys)


def check_acks(ledger: Ledger, acked: dict[int, str]) -> list[str]:
    """``acked``: incident id → person whose acknowledgement was committed."""
    problems = []
    for incident_id, person in acked.items():
        inc = next((i for i in ledger.incidents if i.id == incident_id), None)
        if inc is None or inc.state != "acknowledged" or inc.acknowledged_by != person:
            problems.append(f"incident {incident_id}: acknowledgement by {person} lost ({inc})")
            continue
        assert inc.acknowledged_at is not None
        late = [r.id for r in ledger.rows_for(incident_id)
                if r.purpose == "page" and r.created_at > inc.acknowledged_at]
        if late:
            problems.append(f"incident {incident_id}: paged after its acknowledgement (rows {late})")
    return problems


def check_all(ledger: Ledger, sent: Counter[str], tickets: Iterable[str],
              acked: dict[int, str] | None = None) -> list[str]:
    return (check_tickets(ledger, tickets) + check_steps(ledger) + check_sends(ledger, sent)
            + check_acks(ledger, acked or {}))
