"""A paging scenario run by the real service and runner code, for crash tests.

``python -m support.crashworker DB LOG [--kill-at N]`` (with ``tests/`` on PYTHONPATH:
:func:`support.subprocess_env`) plays a fixed timeline of simulated minutes (tickets
opened, acknowledgements, runner passes) against the SQLite file DB, appending every
message handed to the transport to LOG. With ``--kill-at N`` the process SIGKILLs itself
at its Nth checkpoint. Progress is kept in the database (cursor ``crashworker.tick``), so
running it again resumes where the killed run stopped — exactly what the daemon does
after ``kill -9``.
"""

from __future__ import annotations

import argparse
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

from oncall.errors import IncidentError
from oncall.escalation.policy import ChannelLimit, NotificationSettings
from oncall.escalation.runner import Runner
from oncall.incidents.model import TicketSummary
from oncall.incidents.service import IncidentService
from oncall.interfaces import Channel
from oncall.store.db import make_engine, upgrade
from oncall.store.inbox import get_cursor, set_cursor
from oncall.testing.paging import RecordingTransport, fail_sms_for, person
from support.harness import default_directory

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
TICKS = 70  # simulated minutes
OPENS = {0: (1, 2), 1: (3,), 3: (4,), 7: (5,), 12: (6,), 33: (7,)}  # tick → ticket numbers
ACKS = {2: ((3, "ann"),), 20: ((5, "cat"),), 40: ((7, "ann"),)}  # tick → (ticket, person)
HANDOVER = T0 + timedelta(minutes=30)  # primary goes from ann to dan (whose SMS fails)
CURSOR = "crashworker.tick"


def at(tick: int) -> datetime:
    return T0 + timedelta(minutes=tick)


def ticket(n: int) -> TicketSummary:
    return TicketSummary(source="crash", ticket_id=f"C-{n}", priority="urgent",
                         customer="acme", subject=f"Outage {n}")


class Killer:
    def __init__(self, kill_at: int | None) -> None:
        self.kill_at = kill_at
        self.count = 0

    def __call__(self, _name: str) -> None:
        self.count += 1
        if self.count == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def run_scenario(db_path: Path, log_path: Path, kill_at: int | None = None) -> None:
    checkpoint = Killer(kill_at)
    engine = make_engine(f"sqlite:///{db_path}")
    upgrade(engine)
    directory = default_directory()
    directory.contacts["dan"] = person("dan", Channel.SMS, Channel.VOICE)
    directory.on_call_map = {
        "primary": lambda t: ("ann",) if t < HANDOVER else ("dan",),
        "secondary": ("cat",),
    }
    settings = NotificationSettings(admins=("adm",),
                                    sms=ChannelLimit(min_interval=timedelta(minutes=2)))
    transport = RecordingTransport(log_path=log_path, fail=fail_sms_for("cat", "dan"))
    service = IncidentService(engine, lambda: directory)
    runner = Runner(engine, transport, lambda: directory, lambda: settings,
                    checkpoint=checkpoint)
    done = get_cursor(engine, CURSOR)
    for tick in range(int(done) + 1 if done is not None else 0, TICKS):
        now = at(tick)
        for n in OPENS.get(tick, ()):
            service.open_or_update(ticket(n), "primary", now)
            checkpoint("opened")
        for n, who in ACKS.get(tick, ()):
            ack_ticket(service, n, who, now)
            checkpoint("acked")
        runner.run_due(now)
        set_cursor(engine, CURSOR, str(tick), now)
        checkpoint("tick")
    engine.dispose()


def ack_ticket(service: IncidentService, n: int, who: str, now: datetime) -> None:
    for inc in service.list(open_only=True):
        if inc.ticket_id == f"C-{n}":
            try:
                service.ack(inc.id, who, now, via="sms")
            except IncidentError:
                pass  # acknowledged before the crash: the restart repeats the tick


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("db", type=Path)
    parser.add_argument("log", type=Path)
    parser.add_argument("--kill-at", type=int, default=None)
    args = parser.parse_args(argv)
    run_scenario(args.db, args.log, args.kill_at)


if __name__ == "__main__":
    main()
