"""Telling admins: blocked phones, silent ticket sources, coverage gaps, bad reloads.

Alerts go straight to the transport (they belong to no incident) and are
de-duplicated through the cursors table, so a restart does not repeat them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from oncall import logs
from oncall.config.snapshot import Snapshot
from oncall.errors import DeliveryError
from oncall.notify.base import Channel, Outbound, Transport
from oncall.store.inbox import get_cursor, set_cursor

log = logs.get("oncall.alerts")

SMS_BLOCKED = "sms_blocked:"


class AdminAlerts:
    def __init__(self, engine: Engine, transport: Transport, snapshot: Callable[[], Snapshot]) -> None:
        self.engine = engine
        self.transport = transport
        self.snapshot = snapshot
        # Read once here, kept in memory: the runner asks while it holds a write transaction,
        # and a second SQLite connection would wait for that very transaction.
        self._blocked = {p for p in snapshot().people if get_cursor(engine, SMS_BLOCKED + p) == "1"}

    def sms_blocked(self, person_id: str) -> bool:
        return person_id in self._blocked

    def set_sms_blocked(self, person_id: str, blocked: bool, now: datetime) -> None:
        set_cursor(self.engine, SMS_BLOCKED + person_id, "1" if blocked else "0", now)
        (self._blocked.add if blocked else self._blocked.discard)(person_id)

    def blocked_people(self) -> list[str]:
        return sorted(self._blocked)

    def alert(self, key: str, text: str, now: datetime) -> int:
        """Send ``text`` to every admin once per ``key``; returns how many got it."""
        name = f"alert:{key}"
        if get_cursor(self.engine, name) is not None:
            return 0
        # Claim first: an alert is better lost in a crash than repeated in a loop.
        set_cursor(self.engine, name, now.isoformat(), now)
        snapshot = self.snapshot()
        sent = 0
        log.critical("admin.alert", key=key, text=text)
        for admin in snapshot.notifications.admins:
            person = snapshot.people.get(admin)
            if person is None:
                continue
            for method in person.contact_methods:
                channel = Channel(method)
                address = person.email if channel is Channel.EMAIL else person.phone
                if not address or channel not in self.transport.channels():
                    continue
                if channel is Channel.SMS and self.sms_blocked(person.id):
                    continue
                try:
                    self.transport.send(Outbound(
                        key=f"alert-{abs(hash((key, admin))) % 10**12}", channel=channel, to=address,
                        person_id=admin, incident_ids=(), text=f"oncall admin alert: {text}"[:600],
                        subject="oncall admin alert"))
                except DeliveryError as exc:
                    log.error("admin.alert_failed", person=admin, channel=channel.value, error=str(exc))
                    continue
                sent += 1
                break
        if not sent:
            log.critical("admin.alert_undelivered", key=key, text=text)
        return sent
