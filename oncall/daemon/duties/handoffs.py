"""The hand-off duty: tell each person shortly before their shift starts, once per shift
(remembered in the database, so a restart does not repeat it), by a text — an e-mail when
they have no phone or texted STOP. Off with ``ONCALL_HANDOFF_NOTICES=false``; the window is
``ONCALL_HANDOFF_NOTICE_MINUTES``. Each notice is claimed in the database before it is sent,
under the ``handoffs`` lease (``fence``): one instance, one notice, even across a takeover."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from oncall import logs
from oncall.config.snapshot import Snapshot
from oncall.daemon.duties.base import DutyReport, Pacing
from oncall.errors import DeliveryError
from oncall.interfaces import Channel, Outbound, Transport
from oncall.notify.channels import quiet_channels, reachable
from oncall.schedules.handoffs import handoff_text, upcoming_handoffs
from oncall.schedules.models import Person
from oncall.store.inbox import get_cursor
from oncall.store.leases import UNFENCED, Fencing, claim_once

log = logs.get("oncall.daemon")


class HandoffDuty:
    name = "handoffs"
    pacing = Pacing.INTERVAL
    at_start = True
    singleton = True
    fence: Fencing = UNFENCED  # the lease keeper's, when it runs the duty

    def __init__(self, engine: Engine, transport: Transport, snapshot: Callable[[], Snapshot], *,
                 sms_blocked: Callable[[str], bool], enabled: bool, window: timedelta, interval: timedelta) -> None:
        self.engine = engine
        self.transport = transport
        self.snapshot = snapshot
        self.sms_blocked = sms_blocked
        self.enabled = enabled
        self.window = window
        self.interval = interval

    def run_once(self, now: datetime) -> DutyReport:
        if not self.enabled:
            return DutyReport()
        snap = self.snapshot()
        sent = 0
        for sid, schedule in snap.schedules.items():
            for h in upcoming_handoffs(snap.resolved(sid), (), now, now + self.window):
                key = f"handoff:{sid}:{h.person}:{h.start.astimezone(UTC).isoformat()}"
                person = snap.people.get(h.person)
                if person is None or get_cursor(self.engine, key) is not None:
                    continue
                reach = self._reach(person)
                if reach is None:
                    continue
                channel, address = reach
                if not claim_once(self.engine, key, now.isoformat(), now, self.fence):
                    continue
                text = f"oncall {schedule.name or sid}: " + handoff_text(h, schedule.timezone)
                try:
                    self.transport.send(Outbound(key=key.replace(":", "-")[:100], channel=channel, to=address,
                                                 person_id=person.id, incident_ids=(), text=text))
                    sent += 1
                except DeliveryError as exc:
                    log.warning("handoff.notice_failed", person=person.id, error=str(exc))
        return DutyReport(done=sent)

    def _reach(self, person: Person) -> tuple[Channel, str] | None:
        """The first channel that never rings the person can be reached on: a text, else (no
        phone, or they texted STOP) an e-mail."""
        blocked = self.sms_blocked(person.id)
        return next(((c, a) for c in quiet_channels()
                     if (a := reachable(person, c, sms_blocked=blocked)) is not None), None)
