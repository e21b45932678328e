"""The response-clocks duty: follow each ticket's first- and next-response clock from the
processed ticket events (a cursor over the inbox), warn when a target's ``warn_share`` is used
without a response, and record a missed target.

A warning goes to the people on duty for the ticket's desk while it is open (its hand-over
readers: ``handover.schedule`` on call, else the admins) and, while it is closed, to the person
on call in the target's ``warn_after_hours`` schedule; without one it waits for the desk's
opening. Each clock is warned about once and its miss recorded once (in the database), and
counted: ``oncall_response_warnings_total`` and ``oncall_response_misses_total`` by desk and
priority. The first run reads only the events of the last day.

A ticket is read as the intake decided it: what a stored event names only by id (a Zendesk
event's organisation) is looked up first (``resolve``, the intake's), so its clock runs on its
customer's desk, not the default one. A singleton under the ``response-clocks`` lease
(``fence``): the clocks, the cursor and each warning or miss recorded hold the lease in their
transaction, and each warning checks it before it goes, so an instance woken from a freeze after
another took the lease over writes and sends nothing (``LeaseLost`` ends the run).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, func, select

from oncall import logs
from oncall.config.snapshot import Snapshot
from oncall.daemon.duties.base import DutyReport, Pacing
from oncall.daemon.duties.handover import desk_readers, send_quiet
from oncall.desks import business_time
from oncall.errors import TicketError
from oncall.intake import Resolver
from oncall.interfaces import Transport
from oncall.metrics import Metrics
from oncall.response_clocks.model import Clock, Due, advance, alarm, due_for
from oncall.response_clocks.store import ResponseClocks
from oncall.rules import TicketEvent, desk_for, facts_for, mismatch
from oncall.schedules.models import Person
from oncall.sources.settings import default_mapping
from oncall.store.inbox import get_cursor
from oncall.store.leases import UNFENCED, Fencing, fenced_set_cursor
from oncall.store.tables import ticket_events
from oncall.tickets import Ticket, parse_ticket

log = logs.get("oncall.daemon")
CURSOR = "response-clocks:event"
BATCH = 500
FIRST_RUN_LOOKBACK = timedelta(days=1)  # events older than this when the duty first runs are not read


class ResponseClocksDuty:
    name = "response-clocks"
    pacing = Pacing.INTERVAL
    at_start = True
    singleton = True
    fence: Fencing = UNFENCED  # the lease keeper's, when it runs the duty

    def __init__(self, engine: Engine, transport: Transport, snapshot: Callable[[], Snapshot], metrics: Metrics,
                 *, sms_blocked: Callable[[str], bool], interval: timedelta, resolve: Resolver | None = None) -> None:
        self.engine = engine
        self.resolve = resolve
        self.clocks = ResponseClocks(engine)
        self.transport = transport
        self.snapshot = snapshot
        self.metrics = metrics
        self.sms_blocked = sms_blocked
        self.interval = interval

    def run_once(self, now: datetime) -> DutyReport:
        snap = self.snapshot()
        done = self.follow(snap, now)
        for clock in self.clocks.running(before=now):
            done += self._alarm(snap, clock, now)
        return DutyReport(done=done)

    def follow(self, snap: Snapshot, now: datetime) -> int:
        """Advance the clocks with the ticket events processed since the last run. Only events
        below the oldest unprocessed one are read, so none processed out of order is skipped."""
        cursor = get_cursor(self.engine, CURSOR)
        with self.engine.connect() as conn:
            if cursor is None:  # first run: not the whole history, whose clocks are long past
                cursor = str(conn.execute(select(func.max(ticket_events.c.id)).where(
                    ticket_events.c.received_at < now - FIRST_RUN_LOOKBACK)).scalar() or 0)
            after = int(cursor)
            pending = conn.execute(select(func.min(ticket_events.c.id)).where(
                ticket_events.c.processed_at.is_(None))).scalar()
            query = select(ticket_events.c.id, ticket_events.c.source, ticket_events.c.ticket_json).where(and_(
                ticket_events.c.id > after, ticket_events.c.processed_at.is_not(None)))
            if pending is not None:
                query = query.where(ticket_events.c.id < pending)
            rows = conn.execute(query.order_by(ticket_events.c.id).limit(BATCH)).all()
        if not rows:
            return 0
        tickets: list[tuple[str, Ticket]] = []
        for row in rows:  # looked up outside the transaction: a look-up may wait for the helpdesk
            try:
                ticket = parse_ticket(row.ticket_json)
            except TicketError:
                continue
            tickets.append((row.source, ticket if self.resolve is None else self.resolve(ticket, now)))
        self.fence.ready()
        with self.engine.begin() as conn:
            self.fence.hold(conn)
            for source, ticket in tickets:
                mapping = snap.source_mappings.get(source) or default_mapping(source)
                desk = desk_for(ticket, snap).id
                before = self.clocks.get(conn, source, ticket.id)
                self.clocks.put(conn, source, ticket.id,
                                advance(before, ticket, desk, mapping.responded_when, self._due(snap)))
        fenced_set_cursor(self.engine, self.fence, CURSOR, str(rows[-1].id), now)
        return len(rows)

    @staticmethod
    def _due(snap: Snapshot) -> Callable[[Ticket, bool, datetime], Due | None]:
        def due(ticket: Ticket, first: bool, start: datetime) -> Due | None:
            facts = facts_for(ticket, TicketEvent.CREATED, snap, start)
            desk = desk_for(ticket, snap)
            for target in snap.response_targets:
                if mismatch(target.when, facts) is None:
                    return due_for(desk, target, start, first=first)
            return None
        return due

    def _alarm(self, snap: Snapshot, clock: Clock, now: datetime) -> int:
        found = alarm(clock, now)
        assert clock.due is not None
        labels = (clock.desk, clock.priority.value)
        if found.miss and self.clocks.mark(clock, self.fence, missed_at=now):
            self.metrics.response_misses.labels(*labels).inc()
            log.warning("response.missed", source=clock.source, ticket_id=clock.ticket_id, desk=clock.desk,
                        kind=clock.kind.value, target=clock.due.target, due_at=clock.due.due_at.isoformat())
        if not found.warn:
            return 0
        readers = self._readers(snap, clock, now)
        if not readers or not self.clocks.mark(clock, self.fence, warned_at=now):
            return 0
        self.metrics.response_warnings.labels(*labels).inc()
        desk = snap.desks.get(clock.desk)
        tz = desk.timezone if desk else ZoneInfo("UTC")
        customer = snap.customers.get(clock.customer or "")
        text = warning_text(clock, now, tz, customer.name if customer else None)
        key = f"response-{clock.source}-{clock.ticket_id}-{int(clock.started_at.timestamp())}"
        log.info("response.warned", source=clock.source, ticket_id=clock.ticket_id, desk=clock.desk,
                 readers=len(readers))
        return sum(send_quiet(self.transport, p, text, f"{key}-{p.id}", "oncall response target",
                              sms_blocked=self.sms_blocked(p.id), fence=self.fence) for p in readers)

    @staticmethod
    def _readers(snap: Snapshot, clock: Clock, now: datetime) -> list[Person]:
        desk = snap.desks.get(clock.desk)
        if desk is None:
            return []
        if business_time.is_open(desk, now):
            return desk_readers(snap, desk.handover.schedule, now)
        schedule = clock.due.warn_after_hours if clock.due else None
        if schedule is None or schedule not in snap.schedules:
            return []  # waits for the desk's opening
        return [snap.people[i] for i in snap.on_call(schedule, now) if i in snap.people]


def warning_text(clock: Clock, now: datetime, tz: ZoneInfo, customer: str | None) -> str:
    assert clock.due is not None
    what = "first response" if clock.kind.value == "first" else "next response"
    left = clock.due.due_at - now
    state = (f"MISSED since {clock.due.due_at.astimezone(tz):%a %H:%M}" if left <= timedelta(0)
             else f"due {clock.due.due_at.astimezone(tz):%a %H:%M %Z}")
    return (f"oncall: {clock.priority.value.upper()} ticket {clock.source} #{clock.ticket_id} "
            f"({customer or clock.customer or 'unknown customer'}) has no {what} yet: {state} "
            f"(target {clock.due.target!r})")

