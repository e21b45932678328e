"""A seeded chaos run: several ``oncall run`` instances on one PostgreSQL database, faults
injected while signed tickets stream in and engineers acknowledge by SMS; then the ledger.

    with scratch_postgres_database() as url:
        result = run_chaos(ChaosPlan(seed=1), zygote, tmp_path, url)
    assert [] == result.problems
    print(result.summary())

One configuration directory for every instance, one fake Twilio and one fake Zendesk that
all instances point at (each under a path prefix of its own, so the fakes know the caller:
:mod:`support.chaos_fakes`), one public URL (a load balancer's, which Twilio signs over).

* **tickets**: a steady stream of signed urgent tickets (``rate`` a second), each posted to
  an instance picked at random; a refused or unanswered post is retried at the next instance
  until a 202, as a helpdesk behind a load balancer retries;
* **faults**: ``faults`` times, an instance that is up (never the last one) is SIGKILLed and
  restarted a moment later, or frozen (SIGSTOP) for a short while or for longer than the
  failover bound, then thawed (SIGCONT);
* **acknowledgements**: for a seeded share of incidents the paged engineer replies
  ``<code>a`` to the first or the second page, signed as Twilio signs it, posted to an
  instance other than the one that sent the page;
* **the poller**: the fake Zendesk holds each export request ``poll_hold`` seconds and
  times it, so two polls at once show.

Then every instance is thawed or restarted, the run settles (every ticket has its incident,
no message is being sent, every incident acknowledged or its policy exhausted), the
instances stop cleanly, and :func:`check` reads the ledger (:mod:`support.chaos_oracle`,
:mod:`support.reliab_ledger`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, select

from oncall.store.tables import incidents
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER
from support import configs
from support.chaos_cluster import UP, Cluster, Instance
from support.chaos_fakes import PollTimingZendesk, RoutedTwilio, via
from support.chaos_oracle import KILL, STOP, Bounds, Fault
from support.chaos_report import ChaosResult, check
from support.chaos_traffic import PUBLIC_URL, SECRET, Acker, TicketStream
from support.reliab_daemon import base_environment, free_port, poll_until
from support.reliab_ledger import PENDING, SENDING, read_ledger
from support.reliab_zygote import Zygote

API_TOKEN = "chaos-api-token"
ZENDESK_EMAIL, ZENDESK_TOKEN = "oncall-bot@example.com", "zd-chaos-token"
SETTLE_TIMEOUT = 60.0


@dataclass(frozen=True, kw_only=True)
class ChaosPlan:
    seed: int
    faults: int = 34
    instances: int = 3
    rate: float = 3.0  # tickets a second
    failover: float = 3.0  # ONCALL_FAILOVER_SECONDS
    react: float = 2.0  # a live instance's reaction on a loaded 2-core machine (see chaos_oracle)
    tick: float = 0.5  # ONCALL_ENGINE_TICK_SECONDS
    step_delay: float = 2.0
    poll_interval: float = 1.0
    poll_hold: float = 0.25
    gap: tuple[float, float] = (0.3, 1.0)  # between faults
    short_stop: tuple[float, float] = (0.2, 1.5)
    long_stop_beyond: tuple[float, float] = (0.3, 1.5)  # past the failover bound
    restart_after: tuple[float, float] = (0.2, 0.8)
    kill_share: float = 0.25
    long_stop_share: float = 0.4
    ack_first: float = 0.4  # share of incidents acknowledged after their first page
    ack_second: float = 0.3  # … after their second; the rest exhaust their policy
    reply_delay: tuple[float, float] = (0.0, 1.0)

    @property
    def bounds(self) -> Bounds:
        return Bounds(failover=self.failover, react=self.react)

    @property
    def steps(self) -> int:
        return 3


def write_config(directory: Path, plan: ChaosPlan) -> Path:
    """One desk, the shared people, a customer whose urgent tickets page at any hour through
    three SMS steps ``step_delay`` apart (erin or frank on call, then gina), run once."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "desk.yaml").write_text(configs.EAST_DESK + """\
plans:
  - id: chaos-24x7
    after_hours: true
customers:
  - {id: chaos, name: Chaos Co, channel: direct, plan: chaos-24x7}
rules:
  - name: chaos-pages
    when: {plan: chaos-24x7, priority: urgent}
    page: true
    escalation_policy: chaos
  - name: otherwise
    page: false
""")
    delay = f"{plan.step_delay:g}s"
    (directory / "oncall.yaml").write_text(configs.PEOPLE + f"""\
escalation_policies:
  - id: chaos
    steps:
      - {{targets: [{{schedule: emergency}}], contact: sms, delay: {delay}}}
      - {{targets: [{{schedule: emergency}}], contact: sms, delay: {delay}}}
      - {{targets: [{{person: gina}}], contact: sms, delay: {delay}}}
    repeat: 0
notifications:
  admins: [gina]
  # every page its own message: the oracle follows each step to Twilio
  sms: {{min_interval: 0s}}
  voice: {{min_interval: 0s}}
""")
    return directory


def instance_env(plan: ChaosPlan, name: str, port: int, config: Path, db_url: str,
                 twilio: RoutedTwilio, zendesk: PollTimingZendesk) -> dict[str, str]:
    env = base_environment()
    env.update({
        "ONCALL_CONFIG": str(config), "ONCALL_DATABASE_URL": db_url,
        "ONCALL_LISTEN": f"127.0.0.1:{port}", "ONCALL_PUBLIC_URL": PUBLIC_URL,
        "ONCALL_LOG_FORMAT": "json", "ONCALL_API_TOKEN": API_TOKEN,
        "ONCALL_SOURCES__GENERIC__SECRET": SECRET,
        "ONCALL_SOURCES__ZENDESK__BASE_URL": via(zendesk.url, name),
        "ONCALL_SOURCES__ZENDESK__EMAIL": ZENDESK_EMAIL,
        "ONCALL_SOURCES__ZENDESK__API_TOKEN": ZENDESK_TOKEN,
        "ONCALL_SOURCES__ZENDESK__POLL_INTERVAL": f"{plan.poll_interval:g}s",
        "ONCALL_TWILIO__ACCOUNT_SID": ACCOUNT_SID, "ONCALL_TWILIO__AUTH_TOKEN": AUTH_TOKEN,
        "ONCALL_TWILIO__FROM_NUMBER": FROM_NUMBER,
        "ONCALL_TWILIO__API_BASE_URL": via(twilio.base_url, name),
        "ONCALL_ENGINE_TICK_SECONDS": f"{plan.tick:g}",
        "ONCALL_FAILOVER_SECONDS": f"{plan.failover:g}",
        "ONCALL_HANDOFF_NOTICES": "false",
    })
    return env


@dataclass
class _Pending:
    at: float
    action: Callable[[], None]


class FaultInjector:
    """``plan.faults`` seeded faults on instances that are up, never the last one up."""

    def __init__(self, plan: ChaosPlan, cluster: Cluster) -> None:
        self.plan = plan
        self.cluster = cluster
        self.rng = random.Random(f"chaos/{plan.seed}")
        self.faults: list[Fault] = []
        self._open: dict[int, Fault] = {}  # index → fault whose end is not known yet
        self._pending: list[_Pending] = []

    def run(self) -> None:
        next_at = time.time() + self.rng.uniform(*self.plan.gap)
        while len(self.faults) < self.plan.faults or self._pending:
            now = time.time()
            for p in [p for p in self._pending if p.at <= now]:
                self._pending.remove(p)
                p.action()
            if len(self.faults) < self.plan.faults and now >= next_at:
                if len(self.cluster.up()) >= 2 and self._inject(now):
                    next_at = now + self.rng.uniform(*self.plan.gap)
            time.sleep(0.02)

    def _inject(self, now: float) -> bool:
        plan, rng = self.plan, self.rng
        preferred = rng.randrange(len(self.cluster.instances))
        kill = rng.random() < plan.kill_share
        long_stop = rng.random() < plan.long_stop_share
        stop_for = (plan.failover + rng.uniform(*plan.long_stop_beyond) if long_stop
                    else rng.uniform(*plan.short_stop))
        restart_after = rng.uniform(*plan.restart_after)
        order = self.cluster.instances[preferred:] + self.cluster.instances[:preferred]
        victim = next((i for i in order if i.state == UP), None)
        if victim is None:
            return False
        index = len(self.faults)
        began = time.time()
        if kill:
            victim.kill()
            fault = Fault(instance=victim.name, kind=KILL, began=began)
            self._open[index] = fault
            self._pending.append(_Pending(began + restart_after, lambda: victim.start(
                on_ready=lambda inst: self._close(index, inst.ready_at))))
        else:
            victim.freeze()
            fault = Fault(instance=victim.name, kind=STOP, began=began, ended=began + stop_for)

            def thaw() -> None:
                victim.thaw()
                self._close(index, time.time())
            self._open[index] = fault
            self._pending.append(_Pending(began + stop_for, thaw))
        self.faults.append(fault)
        return True

    def _close(self, index: int, ended: float) -> None:
        fault = self._open.pop(index, None)
        if fault is not None:
            self.faults[index] = Fault(instance=fault.instance, kind=fault.kind, began=fault.began, ended=ended)


def _unsettled(reader: Engine, stream: TicketStream, acker: Acker) -> str | None:
    """What the run still waits for; None once it has settled."""
    ledger = read_ledger(reader)
    tickets = {i.ticket_id for i in ledger.incidents}
    if any(t not in tickets for t in stream.accepted):
        return "accepted tickets without an incident"
    if any(not all(flags) for flags in ledger.events.values()):
        return "ticket events not processed"
    if any(r.status in (PENDING, SENDING) for r in ledger.rows):
        return "messages pending or being sent"
    if acker.pending() or acker.unanswered():
        return "acknowledgements not answered"
    with reader.connect() as conn:
        due = conn.execute(select(incidents.c.id).where(incidents.c.state == "triggered",
                                                        incidents.c.next_action_at.is_not(None))).first()
    return None if due is None else "incidents with steps still to come"


def run_chaos(plan: ChaosPlan, zygote: Zygote, workdir: Path, db_url: str) -> ChaosResult:
    """Play ``plan`` against a fresh database at ``db_url``; the result lists every broken promise."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = write_config(workdir / "config", plan)
    started = time.monotonic()
    reader = create_engine(db_url)
    with RoutedTwilio(ACCOUNT_SID, AUTH_TOKEN) as twilio, \
            PollTimingZendesk(hold=plan.poll_hold, email=ZENDESK_EMAIL, api_token=ZENDESK_TOKEN) as zendesk:
        # Killed instances reset their connections to the fakes: expected, and quiet.
        twilio._server.handle_error = lambda *_args: None  # type: ignore[method-assign]
        assert zendesk._server is not None
        zendesk._server.handle_error = lambda *_args: None  # type: ignore[method-assign]
        instances = []
        for n in range(plan.instances):
            name, port = f"i{n + 1}", free_port()
            instances.append(Instance(name=name, port=port, log=workdir / f"{name}.log", zygote=zygote,
                                      env=instance_env(plan, name, port, config, db_url, twilio, zendesk)))
        cluster = Cluster(instances)
        result = ChaosResult(plan=plan)
        try:
            cluster.start_all()
            result.phases["start"] = time.monotonic() - started
            stream, acker = TicketStream(plan, cluster), Acker(plan, cluster, twilio, reader)
            stream.start()
            acker.start()
            injector = FaultInjector(plan, cluster)
            injector.run()
            chaos_seconds = time.monotonic() - started - result.phases["start"]
            stream.finish()
            mark = time.monotonic()
            cluster.heal()
            healed = time.time()
            result.phases["heal"] = time.monotonic() - mark
            for reply in acker.unanswered():  # no answer came: the engineer texts again
                acker.send(reply)
            waiting: list[str | None] = [None]

            def settled() -> bool:
                waiting[0] = _unsettled(reader, stream, acker)
                return waiting[0] is None
            if not poll_until(settled, SETTLE_TIMEOUT, interval=0.25):
                result.problems.append(f"did not settle within {SETTLE_TIMEOUT:.0f} s after healing: {waiting[0]}")
            poll_until(lambda: time.time() > healed + plan.failover, plan.failover + 1)
            result.phases["settle"] = time.monotonic() - mark - result.phases["heal"]
            acker.stop()
            mark = time.monotonic()
            codes = cluster.terminate()
            result.phases["stop"] = time.monotonic() - mark
            result.problems += [f"{name}: clean stop exited {code}" for name, code in codes.items() if code != 0]
            result.problems += cluster.problems()
            check(result, reader=reader, stream_accepted=stream.accepted, first_try=stream.first_try,
                  refused=stream.refused, replies=list(acker.replies.values()), faults=injector.faults,
                  arrivals=list(twilio.arrivals), messages=[*twilio.messages, *twilio.calls],
                  polls=list(zendesk.polls), instance_of=cluster.instance_of())
            result.chaos_seconds = chaos_seconds
            result.posts = stream.attempts
        finally:
            cluster.close()
            reader.dispose()
    result.seconds = time.monotonic() - started
    return result
