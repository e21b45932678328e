"""A chaos run's records turned into the oracle's inputs, the checks, and a summary line."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Engine, func, literal_column, null, select, text

from oncall.store.tables import audit, notifications
from support.chaos_fakes import Arrival
from support.chaos_oracle import (
    KILL,
    STOP,
    Ack,
    DueStep,
    Fault,
    Page,
    PollSpan,
    allowance,
    check_lateness,
    overlapping_polls,
    pages_after_acks,
)
from support.reliab_ledger import (
    UNKNOWN,
    Ledger,
    Row,
    check_sends,
    check_steps,
    check_tickets,
    read_ledger,
    twilio_keys,
)

if TYPE_CHECKING:
    from support.chaos import ChaosPlan
    from support.chaos_traffic import Reply


@dataclass
class ChaosResult:
    plan: ChaosPlan
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    chaos_seconds: float = 0.0
    posts: int = 0
    faults: list[Fault] = field(default_factory=list)
    tickets: int = 0
    incidents: int = 0
    acks: int = 0
    pages: int = 0
    resends: int = 0
    polls: int = 0
    worst: float = 0.0
    worst_single: float = 0.0
    beyond_bound: int = 0
    chained: int = 0
    excused: list[str] = field(default_factory=list)  # steps past the bound that only a chain of faults allows
    steps_checked: int = 0
    phases: dict[str, float] = field(default_factory=dict)  # seconds spent starting, healing, settling, stopping
    ack_waits: list[float] = field(default_factory=list)  # each acknowledgement: commit - its audit row's time

    def summary(self) -> str:
        kinds = Counter(f.kind for f in self.faults)
        restarts = sorted(f.ended - f.began for f in self.faults if f.kind == KILL and f.ended != math.inf)
        median_restart = restarts[len(restarts) // 2] if restarts else 0.0
        long_stops = sum(1 for f in self.faults if f.kind == STOP and f.ended - f.began > self.plan.failover)
        bounds = self.plan.bounds
        phases = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in self.phases.items())
        return (f"seed {self.plan.seed}: {len(self.faults)} faults ({kinds[KILL]} SIGKILL, {kinds[STOP]} SIGSTOP, "
                f"{long_stops} of them past F; a killed instance was back in {median_restart:.1f} s, median) "
                f"in {self.chaos_seconds:.0f} s of chaos, {self.seconds:.0f} s in all ({phases}); "
                f"{self.tickets} tickets accepted ({self.posts} posts), {self.incidents} incidents, "
                f"{self.acks} acknowledged by SMS; {self.pages} messages at Twilio, "
                f"{self.resends} unknown-outcome resends; {self.polls} polls; "
                f"worst lateness {self.worst:.2f} s over {self.steps_checked} due steps, "
                f"{self.worst_single:.2f} s where at most one fault could hold the step (bound "
                f"{bounds.bound:g} s = F {bounds.failover:g} s + {bounds.tolerance:g} s); {self.chained} steps "
                f"under overlapping faults, {self.beyond_bound} of them past the bound; "
                f"acknowledgements committed {_spread(self.ack_waits)}"
                + "".join(f"\n  past the bound: {e}" for e in self.excused))


def _spread(values: Sequence[float]) -> str:
    if not values:
        return "(none)"
    return (f"{values[len(values) // 2]:.3f} s after their audit time (median; at most "
            f"{values[-1]:.2f} s)")


def _committed(conn: Connection) -> ColumnElement[Any]:
    """When each audit row's transaction committed, where PostgreSQL keeps commit times
    (``track_commit_timestamp``, which ``scripts/test-postgres.sh`` turns on); else NULL,
    and the audit row's own time stands in."""
    if conn.execute(text("SHOW track_commit_timestamp")).scalar() == "on":
        return func.pg_xact_commit_timestamp(literal_column("audit.xmin")).label("committed")
    return null().label("committed")


def _ts(value: Any) -> float:
    return float(value.timestamp())


def due_steps(ledger: Ledger, plan: ChaosPlan, accepted: dict[str, float], first_try: dict[str, float],
              arrived: dict[str, float], acked_at: dict[int, float], faults: Sequence[Fault],
              lost_claims: dict[int, str] | None = None) -> list[DueStep]:
    """Every step that fell due, with when it was due and when its first message reached Twilio.

    The first step is due at the ticket's 202; each next one at the previous step's firing (its
    ledger rows' time) plus the step's delay. A step missing from the ledger counts (never
    fired) unless the incident was acknowledged before it had to fire. ``lost_claims``: ledger
    row id → the instance whose sending claim on it ended in an unknown outcome."""
    lost = lost_claims or {}
    steps: list[DueStep] = []
    for inc in ledger.incidents:
        groups: dict[tuple[int, int], list[Row]] = defaultdict(list)
        for r in ledger.rows_for(inc.id):
            if r.purpose == "page":
                groups[(r.round, r.step)].append(r)
        due = accepted.get(inc.ticket_id)
        if due is None:
            continue  # reported by the ticket checks
        exposed = first_try.get(inc.ticket_id, due)
        ack = acked_at.get(inc.id)
        for n in range(plan.steps):
            group = groups.get((0, n), [])
            keys = {r.message_key for r in group if r.message_key}
            times = [arrived[k] for k in keys if k in arrived]
            step = DueStep(incident_id=inc.id, ticket_id=inc.ticket_id, round=0, step=n, exposed_from=exposed,
                           due=due, fired=min(times) if times else None,
                           claimed_by=frozenset(lost[r.id] for r in group if r.id in lost))
            if step.fired is None and ack is not None and ack <= allowance(step, faults, plan.bounds).deadline:
                break  # acknowledged before this step had to reach anyone
            steps.append(step)
            if not group:
                break
            exposed = min(_ts(r.created_at) for r in group)
            due = exposed + plan.step_delay
    return steps


def _pid(claimed_by: str | None) -> int | None:
    """The web process's pid in a claim's owner (``host:pid:random`` or ``host:pid:random/worker pid``)."""
    parts = (claimed_by or "").split("/")[0].split(":")
    return int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else None


def check(result: ChaosResult, *, reader: Engine, stream_accepted: dict[str, float], first_try: dict[str, float],
          refused: dict[str, str], replies: Sequence[Reply], faults: Sequence[Fault], arrivals: Sequence[Arrival],
          messages: Sequence[Any], polls: Sequence[PollSpan], instance_of: dict[int, str] | None = None) -> None:
    """``instance_of``: web process pid → instance name, for every start of every instance."""
    plan = result.plan
    ledger = read_ledger(reader)
    with reader.connect() as conn:
        ack_rows = conn.execute(select(audit.c.incident_id, audit.c.at, audit.c.actor, _committed(conn))
                                .where(audit.c.kind == "acknowledged").order_by(audit.c.id)).all()
        unknown = conn.execute(select(notifications.c.id, notifications.c.claimed_by)
                               .where(notifications.c.status == UNKNOWN)).all()
    owners = instance_of or {}
    lost_claims = {row.id: owners[pid] for row in unknown if (pid := _pid(row.claimed_by)) in owners}
    problems = result.problems
    problems += [f"ticket {t}: never accepted ({why})" for t, why in sorted(refused.items())]
    problems += check_tickets(ledger, stream_accepted)
    problems += check_steps(ledger)
    problems += check_sends(ledger, twilio_keys(messages))

    # When each acknowledgement committed: PostgreSQL's commit timestamp; where the server
    # keeps none, the reply's answer (which came after the commit), else the audit row's time.
    answered = {r.incident_id: r.answered for r in replies}
    acked_at: dict[int, float] = {}
    asked_at: dict[int, float] = {}  # the audit row's time: before any wait for a lock
    for row in ack_rows:
        if row.incident_id in acked_at:
            problems.append(f"incident {row.incident_id}: acknowledged twice (audit)")
            continue
        asked_at[row.incident_id] = _ts(row.at)
        acked_at[row.incident_id] = (_ts(row.committed) if row.committed is not None
                                     else answered.get(row.incident_id) or _ts(row.at))
    result.ack_waits = sorted(acked_at[i] - asked_at[i] for i in acked_at)
    states = {i.id: i for i in ledger.incidents}
    for reply in replies:
        inc = states.get(reply.incident_id)
        if reply.answered is None:
            problems.append(f"incident {reply.incident_id}: the reply '{reply.code}a' never got an answer "
                            f"({reply.statuses})")
        elif inc is None or inc.state != "acknowledged" or inc.acknowledged_by != reply.person:
            problems.append(f"incident {reply.incident_id}: acknowledgement by {reply.person} lost ({inc})")
    vias = {r.incident_id: tuple(r.vias) for r in replies}
    acks = [Ack(incident_id=i, person=states[i].acknowledged_by or "?", at=at, via=vias.get(i, ()),
                asked=asked_at[i], answered=answered.get(i))
            for i, at in acked_at.items() if i in states]

    first_arrival: dict[str, float] = {}
    sender: dict[str, str | None] = {}
    for a in arrivals:
        if a.key not in first_arrival:
            first_arrival[a.key], sender[a.key] = a.at, a.sender
    page_rows: dict[str, set[int]] = defaultdict(set)
    statuses: dict[str, set[str]] = defaultdict(set)
    for r in ledger.rows:
        if r.purpose == "page" and r.message_key:
            page_rows[r.message_key].add(r.incident_id)
            statuses[r.message_key].add(r.status)
    pages = [Page(incident_id=i, arrived=a.at, sender=a.sender, key=a.key, statuses=frozenset(statuses[a.key]))
             for a in arrivals for i in page_rows.get(a.key, ())]
    problems += pages_after_acks(acks, pages, faults, plan.bounds)

    steps = due_steps(ledger, plan, stream_accepted, first_try, first_arrival, acked_at, faults, lost_claims)
    lateness = check_lateness(steps, faults, plan.bounds)
    problems += lateness.problems
    problems += overlapping_polls(polls)
    expected_polls = result.chaos_seconds / plan.poll_interval / 4
    if len(polls) < expected_polls:
        problems.append(f"only {len(polls)} polls in {result.chaos_seconds:.0f} s (poll interval "
                        f"{plan.poll_interval:g} s): the poller barely ran")

    result.faults = list(faults)
    result.tickets = len(stream_accepted)
    result.incidents = len(ledger.incidents)
    result.acks = len(acked_at)
    result.pages = len(arrivals)
    result.resends = sum(1 for r in ledger.rows if r.resend_of is not None)
    result.polls = len(polls)
    result.worst = lateness.worst
    result.worst_single = lateness.worst_single
    result.beyond_bound = lateness.beyond_bound
    result.chained = lateness.chained
    result.excused = lateness.excused
    result.steps_checked = lateness.checked
