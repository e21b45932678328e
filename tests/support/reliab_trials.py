"""One seeded crash trial against the real daemon: kill it at a phase, restart, compare.

A trial files a few urgent tickets (the demo customer pages at any hour), lets the
daemon kill itself with ``ONCALL_FAULT_KILL_AT=phase:N``, checks that the crash hit
the window it names (e.g. a ledger row ``pending`` and not yet at Twilio for
``before_send``), restarts the daemon without the fault, lets the helpdesk and the
engineer retry whatever got no answer, waits until every incident escalated past
its first step (or was acknowledged), stops the daemon cleanly and checks the ledger
(:mod:`reliab_ledger`). The number of tickets, acknowledgements and N vary by seed.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine

from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER
from support.reliab_daemon import (
    PHONES,
    DaemonSpec,
    Launcher,
    Proc,
    free_port,
    poll_until,
    post_ticket,
    stop,
    ticket_body,
    wait_ready,
)
from support.reliab_ledger import (
    PENDING,
    SENDING,
    SENT,
    UNKNOWN,
    Ledger,
    check_all,
    delivered,
    read_ledger,
    reader,
    twilio_keys,
)

PHASES = ("accepted", "incident_opened", "before_send", "after_send", "acknowledged")
DEATH_TIMEOUT = 15.0  # seconds for the fault to fire once its trigger was given
SETTLE_TIMEOUT = 20.0


@dataclass
class Trial:
    phase: str
    seed: int
    tickets: list[str] = field(default_factory=list)
    kill_at: int = 0
    acks: int = 0
    problems: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (f"{self.phase} seed={self.seed} tickets={len(self.tickets)} kill_at={self.kill_at} "
                f"acks={self.acks}")


def plan(phase: str, seed: int) -> Trial:
    rng = random.Random(f"{phase}/{seed}")
    trial = Trial(phase=phase, seed=seed)
    count = rng.randint(1, 5)
    trial.tickets = [f"S{seed}-{phase[:3]}-{i}" for i in range(count)]
    if phase in ("accepted", "incident_opened"):
        trial.kill_at = rng.randint(1, count)
    elif phase in ("before_send", "after_send"):
        trial.kill_at = rng.randint(1, 3)  # a step a second reaches 3 sends quickly
    else:
        trial.acks = rng.randint(1, count)
        trial.kill_at = rng.randint(1, trial.acks)
    return trial


def _sent(fake: FakeTwilio) -> Counter[str]:
    return twilio_keys([*fake.messages, *fake.calls])


def _settled(ledger: Ledger, trial: Trial, acked: dict[int, str]) -> bool:
    """Every ticket has its incident, and each unacknowledged one escalated past step 0."""
    if any(not ledger.incident_for(t) for t in trial.tickets):
        return False
    if any(not all(flags) for flags in ledger.events.values()):
        return False
    if any(r.status in (PENDING, SENDING) for r in ledger.rows):
        return False
    for inc in ledger.incidents:
        if inc.id in acked:
            if inc.state != "acknowledged":
                return False
            continue
        if not any((r.round, r.step) >= (0, 1) and r.status == SENT and r.purpose == "page"
                   for r in ledger.rows_for(inc.id)):
            return False
    return True


def run_trial(trial: Trial, launcher: Launcher, workdir: Path, config: Path) -> Trial:
    """Play ``trial``; its ``problems`` list every broken promise (empty = passed)."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "oncall.db"
    log = workdir / "daemon.log"
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake, httpx.Client(timeout=10.0) as client:
        # The killed daemon resets its keep-alive connections to the fake: expected, quiet.
        fake._server.handle_error = lambda *_args: None  # type: ignore[method-assign]
        spec = DaemonSpec(config=config, db_url=f"sqlite:///{db}", port=free_port(),
                          twilio_base=fake.base_url)
        read = reader(spec.db_url)
        first = launcher.start(spec.env(fault=f"{trial.phase}:{trial.kill_at}"), log)
        wait_ready(spec.base_url, first)
        answered: set[str] = set()
        for t in trial.tickets:
            if post_ticket(client, spec.base_url, ticket_body(t)) == 202:
                answered.add(t)
        acked: dict[int, str] = {}
        lost_ack: tuple[str, str] | None = None
        if trial.phase == "acknowledged":
            lost_ack = _acknowledge(trial, fake, spec, read, acked, first)
        code = first.wait(DEATH_TIMEOUT)
        if code != -9:
            trial.problems.append(f"fault {trial.phase}:{trial.kill_at} did not kill the daemon "
                                  f"(exit {code})")
            if code is None:
                stop(first)
            return trial
        _check_window(trial, read_ledger(read), _sent(fake), answered)

        second = launcher.start(spec.env(), log)
        wait_ready(spec.base_url, second)
        for t in trial.tickets:  # the helpdesk retries whatever got no 202
            if t not in answered:
                status = post_ticket(client, spec.base_url, ticket_body(t))
                if status != 202:
                    trial.problems.append(f"ticket {t}: retry after restart answered {status}")
        if lost_ack is not None:  # the engineer got no answer and texts again
            phone, reply = lost_ack
            again = fake.send_sms_reply(spec.base_url, from_=phone, to=FROM_NUMBER, body=reply)
            if again.status_code != 200:
                trial.problems.append(f"repeated ack {reply!r} answered {again.status_code}")
        if not poll_until(lambda: _settled(read_ledger(read), trial, acked), SETTLE_TIMEOUT):
            trial.problems.append("did not settle after restart: " + _summary(read_ledger(read)))
        code = stop(second)
        if code != 0:
            trial.problems.append(f"clean stop exited {code}")
        ledger = read_ledger(read)
        sent = _sent(fake)
        trial.problems += check_all(ledger, sent, trial.tickets, acked)
        trial.problems += _check_resends(trial, ledger, sent)
        read.dispose()
    return trial


def _acknowledge(trial: Trial, fake: FakeTwilio, spec: DaemonSpec, read: Engine,
                 acked: dict[int, str], proc: Proc) -> tuple[str, str] | None:
    """Reply '<code>a' for the first ``trial.acks`` incidents, as the paged person.
    Returns (phone, reply) of the acknowledgement whose answer the crash swallowed."""
    def first_pages_sent() -> bool:
        ledger = read_ledger(read)
        return len(ledger.incidents) == len(trial.tickets) and all(
            any(r.status == SENT and (r.round, r.step) == (0, 0) for r in ledger.rows_for(i.id))
            for i in ledger.incidents)

    if not poll_until(first_pages_sent, SETTLE_TIMEOUT):
        trial.problems.append("first pages never went out: " + _summary(read_ledger(read)))
        return None
    ledger = read_ledger(read)
    for inc in ledger.incidents[:trial.acks]:
        row = next(r for r in ledger.rows_for(inc.id) if (r.round, r.step) == (0, 0))
        reply = f"{row.short_code}a"
        phone = next(p for p, who in PHONES.items() if who == row.person_id)
        try:
            answer = fake.send_sms_reply(spec.base_url, from_=phone, to=FROM_NUMBER, body=reply)
        except httpx.HTTPError:
            acked[inc.id] = row.person_id  # committed before the kill; checked below
            return phone, reply
        if answer.status_code != 200:
            trial.problems.append(f"ack {reply!r} answered {answer.status_code}")
        acked[inc.id] = row.person_id
    if proc.exit_code() is None:
        trial.problems.append("every acknowledgement was answered: the fault never fired")
    return None


def _check_window(trial: Trial, ledger: Ledger, sent: Counter[str], answered: set[str]) -> None:
    """Right after the kill: did it die inside the window its phase names?"""
    stored = set(ledger.events)
    lost = answered - stored
    if lost:
        trial.problems.append(f"tickets answered 202 but not stored: {sorted(lost)}")
    if trial.phase == "accepted":
        if trial.tickets[trial.kill_at - 1] not in stored:
            trial.problems.append("killed at 'accepted' but the ticket is not stored")
    elif trial.phase == "incident_opened":
        # killed inside the batch's transaction, its incidents written: none of it committed
        pending = {t for t, processed in ledger.events.items() if not any(processed)}
        if not pending:
            trial.problems.append("killed at 'incident_opened' but every stored event was processed")
        opened = sorted(pending & {i.ticket_id for i in ledger.incidents})
        if opened:
            trial.problems.append(f"killed at 'incident_opened', inside the batch's transaction, yet incidents "
                                  f"of its unprocessed events were committed: {opened}")
    elif trial.phase in ("before_send", "after_send"):
        # Messages are handed over concurrently (several per pass), so at the kill each
        # claimed message is at Twilio at most once; the one the kill caught is not there yet
        # (before_send) or is there exactly once (after_send). Unclaimed ones are not there.
        claimed = {r.message_key or "" for r in ledger.rows if r.status == SENDING}
        counts = Counter(sent.get(k, 0) for k in claimed)
        caught = 0 if trial.phase == "before_send" else 1
        if not claimed or counts[caught] < 1 or any(n > 1 for n in counts):
            trial.problems.append(f"killed at {trial.phase!r}: claimed messages reached Twilio "
                                  f"{dict(counts)} times; expected each at most once and one "
                                  f"{caught} times")
        early = [r.id for r in ledger.rows if r.status == PENDING and sent.get(r.message_key or "")]
        if early:
            trial.problems.append(f"rows {early} reached Twilio before they were claimed")
    elif trial.phase == "acknowledged":
        if not any(i.state == "acknowledged" for i in ledger.incidents):
            trial.problems.append("killed at 'acknowledged' but nothing is acknowledged")


def _check_resends(trial: Trial, ledger: Ledger, sent: Counter[str]) -> list[str]:
    """The unknown outcome is resent exactly once: at most two deliveries, never zero."""
    problems = []
    for r in ledger.rows:
        if r.status != UNKNOWN:
            continue
        n = delivered(ledger, sent, r)
        # Sends run concurrently, so even a kill "before_send" can catch other messages
        # already at Twilio: each unknown row is delivered once or twice, never more.
        allowed = (1, 2)
        if any(i.id == r.incident_id and i.state != "triggered" for i in ledger.incidents):
            allowed = (0, 1)  # acknowledged meanwhile: not resent, by design
        if n not in allowed:
            problems.append(f"incident {r.incident_id} step {(r.round, r.step)}: {n} deliveries "
                            f"after an unknown outcome ({trial.phase})")
    if trial.phase in ("before_send", "after_send") and not any(r.status == UNKNOWN
                                                                for r in ledger.rows):
        problems.append(f"{trial.phase}: no row ended 'unknown'")
    return problems


def _summary(ledger: Ledger) -> str:
    counts = Counter(r.status for r in ledger.rows)
    return (f"{len(ledger.incidents)} incidents {Counter(i.state for i in ledger.incidents)}, "
            f"rows {dict(counts)}, events {ledger.events}")
