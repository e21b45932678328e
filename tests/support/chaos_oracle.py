"""What must hold after a chaos run, checked from what was recorded (pure functions).

The chaos run (:mod:`support.chaos`) records the faults it injected, the fake Twilio's
arrivals (with the sending instance), the fake helpdesk's polls and the acknowledgements
it sent; these checks read those records and the ledger and return every broken promise:

* **polls**: no two incremental-export requests of the singleton poller overlap at the
  fake helpdesk (whoever holds the lease);
* **lateness**: every due step reached Twilio within the failover bound. A step is due at
  its ticket's 202 (the first step) or at the previous step's firing plus that step's delay
  (the engine's rule: ``next_action_at = now + delay``). Without a fault it must arrive within
  ``react`` of that. A fault may hold up any work (its leases, its claims, the locks of its
  open transactions) until its *hold* ends — a SIGSTOP until SIGCONT or ``F``, whichever
  is first; a SIGKILL at once (its connections close, its locks go), or for the whole failover
  bound ``F`` if it died holding the sending claim of the step's message (the ledger's
  ``claimed_by`` on the message that became an unknown outcome) — and a live instance then
  needs ``react`` again. A fault counts for a step when its hold overlaps
  the step's exposure: from the previous step's firing (or the ticket's first post) until
  ``react`` after the due time, or, after a hold, the ``react`` that follows it (a second
  fault catching the instance that took over). One fault that began as the step was being
  taken therefore allows ``F + 2·react`` after the due time: the failover bound ``F`` plus the
  stated tolerance ``2·react``. Overlapping faults chain (each hold still ends ``F`` after its
  fault at the latest); the summary counts steps that needed a chain;
* **acknowledgements**: no page reaches Twilio more than ``react`` after the
  acknowledgement's commit (PostgreSQL's commit timestamp: the audit row's own time is
  taken before the transaction, which may wait for a frozen instance's locks) — unless its sender, or the instance the
  reply went to, was frozen across the acknowledgement and the page came within ``react`` of
  that SIGCONT: a message claimed before the acknowledgement, handed over on waking. If that
  freeze outlasted the claim (``F``), the sender can only have been frozen between its last
  check of the claim and the provider call — the gap no protocol closes (see
  ``oncall/escalation/runner.py``) — and its claim was lost meanwhile: the message must not
  be recorded ``sent`` (its outcome write is fenced off; it stays ``unknown``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

KILL, STOP = "kill", "stop"


@dataclass(frozen=True, kw_only=True)
class Fault:
    """One injected fault: SIGKILL (then a restart) or SIGSTOP (then SIGCONT)."""

    instance: str
    kind: str
    began: float
    ended: float = math.inf  # SIGCONT for a stop; the restarted instance ready for a kill

    def hold_end(self, failover: float, claimed: bool = True) -> float:
        """Until when the work it caught may stay held. A frozen instance holds whatever it
        held (locks of its open transactions, claims, leases) until SIGCONT, at most ``F``. A
        killed one loses its connections and so its locks at once; only a sending claim (or a
        lease) waits out ``F``: ``claimed`` says whether it held the message of the step."""
        if self.kind == STOP:
            return min(self.ended, self.began + failover)
        return self.began + failover if claimed else self.began


@dataclass(frozen=True, kw_only=True)
class Bounds:
    failover: float  # ONCALL_FAILOVER_SECONDS
    react: float  # a live instance: tick, claim, step, send, on a loaded machine

    @property
    def tolerance(self) -> float:
        return 2 * self.react

    @property
    def bound(self) -> float:
        return self.failover + self.tolerance


@dataclass(frozen=True, kw_only=True)
class PollSpan:
    """One incremental-export request: when the fake helpdesk got it and when it answered."""

    instance: str | None
    began: float
    ended: float


def overlapping_polls(spans: Iterable[PollSpan]) -> list[str]:
    """Every poll that began before an earlier one was answered."""
    problems: list[str] = []
    latest: PollSpan | None = None
    for span in sorted(spans, key=lambda s: s.began):
        if latest is not None and span.began < latest.ended:
            problems.append(f"concurrent polls: {latest.instance} {latest.began:.3f}–{latest.ended:.3f} and "
                            f"{span.instance} {span.began:.3f}–{span.ended:.3f}")
        if latest is None or span.ended > latest.ended:
            latest = span
    return problems


@dataclass(frozen=True, kw_only=True)
class DueStep:
    """One escalation step (or first page) that fell due."""

    incident_id: int
    ticket_id: str
    round: int
    step: int
    exposed_from: float  # the previous step's firing (or the 202): from then on a fault can hold it
    due: float
    fired: float | None  # its first message's arrival at Twilio; None: never arrived
    claimed_by: frozenset[str] = frozenset()  # instances whose sending claim on its message was lost

    @property
    def lateness(self) -> float | None:
        return None if self.fired is None else self.fired - self.due


@dataclass(frozen=True, kw_only=True)
class Allowance:
    deadline: float
    chain: tuple[Fault, ...]


def allowance(step: DueStep, faults: Sequence[Fault], bounds: Bounds) -> Allowance:
    """The latest ``step`` may fire, over every chain of faults that could have held it."""
    ordered = sorted(faults, key=lambda f: f.began)
    memo: dict[float, Allowance] = {}

    def worst(lo: float, hi: float) -> Allowance:
        best = Allowance(deadline=hi, chain=())
        for fault in ordered:
            if fault.began > hi:
                break
            held = fault.hold_end(bounds.failover, claimed=fault.instance in step.claimed_by)
            if held <= lo:  # over before the step was exposed (strict: every hop moves on)
                continue
            if held not in memo:
                memo[held] = worst(held, held + bounds.react)
            after = memo[held]
            if after.deadline > best.deadline:
                best = Allowance(deadline=after.deadline, chain=(fault, *after.chain))
        return best

    return worst(step.exposed_from, step.due + bounds.react)


@dataclass
class Lateness:
    problems: list[str] = field(default_factory=list)
    worst: float = 0.0
    worst_single: float = 0.0  # worst among steps no more than one fault could have caught
    beyond_bound: int = 0  # steps later than the bound: only a chain of faults excuses them
    chained: int = 0  # steps more than one fault could have held
    checked: int = 0
    excused: list[str] = field(default_factory=list)  # steps past the bound that a chain of faults allows


def check_lateness(steps: Iterable[DueStep], faults: Sequence[Fault], bounds: Bounds) -> Lateness:
    result = Lateness()
    for s in steps:
        allowed = allowance(s, faults, bounds)
        where = f"incident {s.incident_id} (ticket {s.ticket_id}) step {(s.round, s.step)}"
        if s.fired is None:
            result.problems.append(f"{where}: due at {s.due:.3f}, never reached Twilio")
            continue
        late = s.fired - s.due
        result.checked += 1
        result.worst = max(result.worst, late)
        if len(allowed.chain) <= 1:
            result.worst_single = max(result.worst_single, late)
        else:
            result.chained += 1
        if late > bounds.bound:
            result.beyond_bound += 1
            if s.fired <= allowed.deadline:
                chain = ", ".join(f"{f.kind} {f.instance} at {f.began:.3f}" for f in allowed.chain)
                result.excused.append(f"{where}: due {s.due:.3f}, fired {late:.2f} s late; chain: {chain}")
        if s.fired > allowed.deadline:
            chain = ", ".join(f"{f.kind} {f.instance} at {f.began:.3f}" for f in allowed.chain) or "no fault"
            result.problems.append(f"{where}: due {s.due:.3f}, fired {late:.2f} s late; allowed "
                                   f"{allowed.deadline - s.due:.2f} s ({chain}; bound {bounds.bound:.1f} s)")
    return result


@dataclass(frozen=True, kw_only=True)
class Ack:
    incident_id: int
    person: str
    at: float  # the acknowledgement's commit (PostgreSQL's commit timestamp of its audit row)
    via: tuple[str, ...]  # instances the reply was posted to
    asked: float | None = None  # the audit row's own time: taken before any wait for a lock
    answered: float | None = None  # when the reply's HTTP answer came back


@dataclass(frozen=True, kw_only=True)
class Page:
    incident_id: int
    arrived: float
    sender: str | None
    key: str
    statuses: frozenset[str] = frozenset()  # its ledger rows' statuses at the end


def pages_after_acks(acks: Iterable[Ack], pages: Iterable[Page], faults: Sequence[Fault],
                     bounds: Bounds) -> list[str]:
    by_incident: dict[int, list[Page]] = {}
    for page in pages:
        by_incident.setdefault(page.incident_id, []).append(page)
    problems = []
    for ack in acks:
        for page in by_incident.get(ack.incident_id, []):
            if page.arrived <= ack.at + bounds.react:
                continue
            woke = [f for f in faults if f.kind == STOP and f.instance in {page.sender, *ack.via}
                    and f.began <= ack.at + bounds.react and f.ended >= ack.at
                    and f.ended <= page.arrived <= f.ended + bounds.react]
            if any(f.ended - f.began <= bounds.failover or f.instance != page.sender or "sent" not in page.statuses
                   for f in woke):
                continue
            why = " (its sender woke from a freeze longer than its claim and recorded it sent)" if woke else ""
            problems.append(f"incident {ack.incident_id}: page {page.key} from {page.sender} reached Twilio "
                            f"{page.arrived - ack.at:.2f} s after the acknowledgement by {ack.person}{why}"
                            + _ack_story(ack, page, faults))
    return problems


def _ack_story(ack: Ack, page: Page, faults: Sequence[Fault]) -> str:
    """The times around an acknowledgement a page came after, relative to its commit: for the
    reader of a failure."""
    def rel(t: float) -> str:
        return f"{t - ack.at:+.2f} s"

    start = min(ack.at, ack.asked if ack.asked is not None else ack.at) - 5
    near = [f"{f.kind} {f.instance} {rel(f.began)}..{rel(f.ended) if f.ended != math.inf else 'end'}"
            for f in faults if f.began <= page.arrived and f.ended >= start]
    return ("; audit time " + (rel(ack.asked) if ack.asked is not None else "?")
            + ", answered " + (rel(ack.answered) if ack.answered is not None else "never")
            + f", via {'/'.join(ack.via) or '?'}; faults near: {', '.join(near) or 'none'}")
