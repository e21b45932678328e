"""The engine duty: stored ticket events → intake → incidents, then the escalation runner.

Tickets are taken from the inbox in batches; the escalation runner runs after each batch,
so a burst of tickets does not hold back the first pages. The report's ``next_at`` is the
next due escalation step, which the runner turns into a precise wake-up besides the regular
tick. Webhooks, incident changes, reloads and polls that stored tickets wake it at once.
Not a singleton: on PostgreSQL every instance claims work in batches.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from oncall import logs
from oncall.config.snapshot import Snapshot
from oncall.daemon.duties.base import ENGINE, DutyReport, Pacing
from oncall.escalation.runner import Runner, RunReport
from oncall.handover.model import why_no_longer_paged
from oncall.handover.store import Dropped, Kept, WaitingTickets
from oncall.intake import Intake, Outcome
from oncall.interfaces import Clock
from oncall.metrics import Metrics
from oncall.vocabulary import VocabularyReports
from oncall.writeback_feed import WriteBackFeed

log = logs.get("oncall.daemon")
INTAKE_BATCH = 25  # stored tickets processed between two runs of the escalation runner


class EngineDuty:
    name = ENGINE
    pacing = Pacing.INTERVAL
    at_start = True  # recover and process whatever is due at start-up
    singleton = False

    def __init__(self, intake: Intake, escalation: Runner, metrics: Metrics, *, clock: Clock,
                 interval: timedelta, batch: int = INTAKE_BATCH) -> None:
        self.intake = intake
        self.escalation = escalation
        self.metrics = metrics
        self.clock = clock
        self.interval = interval
        self.batch = batch

    def run_once(self, now: datetime) -> DutyReport:
        """Process every stored event, a batch at a time, each batch followed by the runner.
        The first round runs at ``now``; a burst's later rounds read the clock afresh."""
        at, done = now, 0
        while True:
            batch = self.intake.process_batch(at, self.batch)
            report = self.escalation.run_due(at)
            self._count(report)
            done += len(batch) + report.stepped
            if len(batch) < self.batch:
                return DutyReport(done=done, next_at=self.escalation.next_wakeup())
            at = self.clock.now()

    def _count(self, report: RunReport) -> None:
        if report.stepped:
            self.metrics.escalations.inc(report.stepped)
        for seconds in report.lateness:
            self.metrics.step_lateness.observe(seconds)
        for channel, held in report.held_by_channel.items():
            self.metrics.pages_held.labels(channel).inc(held)


class IntakeOutcomes:
    """The intake's ``on_outcome``: each ticket event counted; values oncall did not know told
    to the admins. Its :meth:`settle`, the intake's ``settle`` (written before the batch's
    events count as processed): for a customer not entitled to after-hours help, the public
    "the desk opens at …" reply queued for write-back; a ticket that did not page while its
    desk was closed kept for the desk's hand-over (and dropped when it pages or is closed)."""

    def __init__(self, metrics: Metrics, vocabulary: VocabularyReports, writeback: WriteBackFeed,
                 snapshot: Callable[[], Snapshot], clock: Clock, *, waiting: WaitingTickets | None = None) -> None:
        self.waiting = waiting
        self.metrics = metrics
        self.vocabulary = vocabulary
        self.writeback = writeback
        self.snapshot = snapshot
        self.clock = clock

    def __call__(self, outcome: Outcome) -> None:
        self.metrics.tickets_received.labels(outcome.source, outcome.outcome).inc()
        if outcome.unmapped:
            try:
                self.vocabulary.unmapped(outcome.source, outcome.ticket_id, outcome.unmapped, self.clock.now())
            except Exception:  # the ticket was decided already; telling the admins is best effort
                log.exception("vocabulary.report_failed", source=outcome.source, ticket_id=outcome.ticket_id)

    def _queue_replies(self, conn: Connection, outcomes: list[Outcome], now: datetime) -> None:
        """For a customer not entitled to after-hours help, the public "the desk opens at …"
        reply queued for write-back (once per ticket, however often it is decided)."""
        snap = self.snapshot()
        for outcome in outcomes:
            d = outcome.decision
            if d is not None and not d.page and not d.entitled and not d.business_hours:
                desk = snap.desks.get(d.desk)
                self.writeback.queue_public_reply(outcome.source, outcome.ticket_id, d,
                                                  desk.name or desk.id if desk else d.desk, now, conn,
                                                  template=snap.customer_replies.not_covered)

    def settle(self, conn: Connection, outcomes: list[Outcome], now: datetime) -> None:
        """The intake's ``settle``: the batch's tickets that did not page while their desk was
        closed kept for the desk's hand-over, those that paged or closed dropped — written
        before the batch's events are marked processed, so a crash cannot lose one. A failure
        here is logged and counted and the batch goes on: bookkeeping never holds up a page."""
        self._queue_replies(conn, outcomes, now)
        if self.waiting is None:
            return
        changes: list[Kept | Dropped] = []
        for outcome in outcomes:
            d = outcome.decision
            if outcome.outcome in ("no_page", "cancelled") and d is not None and d.handover_at is not None \
                    and outcome.ticket is not None:
                # a page called off at night (priority lowered): nobody is paged any more, so it waits too
                t = outcome.ticket
                reason = why_no_longer_paged(t.priority, t.severity, d) if outcome.outcome == "cancelled" else None
                changes.append(Kept(outcome.source, t, d, reason))
            elif outcome.outcome in ("paged", "cancelled") or outcome.event == "closed":
                changes.append(Dropped(outcome.source, outcome.ticket_id))
        if not changes:
            return
        try:
            with conn.begin_nested():  # a failure here rolls back only the hand-over's rows
                self.waiting.keep(conn, changes, now)
        except SQLAlchemyError:
            log.exception("handover.keep_failed", tickets=len(changes))
            self.metrics.handover_keep_failures.inc(len(changes))
