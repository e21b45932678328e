"""The Twilio inbound routes' :class:`InboundHandler`, over the incident service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, select

from oncall import logs
from oncall.alerts import AdminAlerts
from oncall.directory import SnapshotDirectory
from oncall.errors import IncidentError
from oncall.incidents.model import Incident
from oncall.incidents.service import IncidentService
from oncall.notify.messages import status_line
from oncall.store.tables import notifications

log = logs.get("oncall.inbound")


class ServiceInbound:
    def __init__(self, service: IncidentService, engine: Engine, directory: Callable[[], SnapshotDirectory],
                 alerts: AdminAlerts, *, checkpoint: Callable[[str], None] = lambda _phase: None,
                 on_outcome: Callable[[str, str, int | None], None] | None = None) -> None:
        """``on_outcome(channel, status, error_code)`` hears each final delivery status once
        (a repeated callback changes nothing and is not reported again)."""
        self.checkpoint = checkpoint
        self.on_outcome = on_outcome
        self.service = service
        self.engine = engine
        self.directory = directory
        self.alerts = alerts

    def person_for_phone(self, phone: str) -> str | None:
        return self.directory().person_for_phone(phone)

    def _incident(self, person_id: str, code: int | None) -> Incident:
        inc = (self.service.latest_for_person(person_id) if code is None
               else self.service.incident_for_code(person_id, code))
        if inc is None:
            raise IncidentError("You have no open page" if code is None else f"No open page #{code} for you")
        return inc

    def _code(self, person_id: str, incident_id: int) -> int:
        with self.engine.connect() as conn:
            code = conn.execute(select(notifications.c.short_code).where(
                notifications.c.person_id == person_id, notifications.c.incident_id == incident_id)
                .order_by(notifications.c.id.desc()).limit(1)).scalar()
        return int(code) if code is not None else incident_id

    def _open_count(self) -> int:
        return len(self.service.list(open_only=True))

    def _act(self, action: str, person_id: str, code: int | None, now: datetime) -> str:
        inc = self._incident(person_id, code)
        run = {"acknowledged": self.service.ack, "escalated": self.service.escalate,
               "resolved": self.service.resolve}[action]
        run(inc.id, person_id, now, "sms")
        self.checkpoint(action)
        return status_line(self._code(person_id, inc.id), action, person_id, self._open_count())

    def ack(self, person_id: str, code: int | None, now: datetime) -> str:
        return self._act("acknowledged", person_id, code, now)

    def escalate(self, person_id: str, code: int | None, now: datetime) -> str:
        return self._act("escalated", person_id, code, now)

    def resolve(self, person_id: str, code: int | None, now: datetime) -> str:
        return self._act("resolved", person_id, code, now)

    def ack_all(self, person_id: str, now: datetime) -> str:
        done = self.service.ack_all(person_id, now, "sms")
        self.checkpoint("acknowledged")
        if not done:
            raise IncidentError("You have no open pages to acknowledge")
        codes = [self._code(person_id, i.id) for i in done]
        return status_line(codes, "acknowledged", person_id, self._open_count())

    def _by_key(self, key: str) -> tuple[int, str, str]:
        with self.engine.connect() as conn:
            row = conn.execute(select(notifications.c.incident_id, notifications.c.person_id, notifications.c.body)
                               .where(notifications.c.message_key == key).limit(1)).first()
        if row is None:
            raise IncidentError("This call is not known to oncall")
        return int(row.incident_id), str(row.person_id), str(row.body)

    def ack_page(self, key: str, now: datetime) -> str:
        incident_id, person_id, _ = self._by_key(key)
        self.service.ack(incident_id, person_id, now, "voice")
        self.checkpoint("acknowledged")
        return f"Incident {incident_id} acknowledged. Thank you."

    def escalate_page(self, key: str, now: datetime) -> str:
        incident_id, person_id, _ = self._by_key(key)
        self.service.escalate(incident_id, person_id, now, "voice")
        return f"Incident {incident_id} escalated to the next step."

    def voice_script(self, key: str) -> str | None:
        try:
            return self._by_key(key)[2] or None
        except IncidentError:
            return None

    def set_sms_blocked(self, person_id: str, blocked: bool, now: datetime) -> None:
        if blocked:
            self.alerts.sms_opted_out(person_id, now)
        else:
            self.alerts.set_sms_blocked(person_id, False, now)
            log.warning("sms.unblocked_by_person", person=person_id)

    def delivery_status(self, *, key: str, provider_id: str | None, status: str, error_code: int | None,
                        answered_by: str | None, now: datetime, opted_out: bool = False) -> None:
        with self.engine.connect() as conn:
            sent = conn.execute(select(notifications.c.provider_id, notifications.c.channel).where(
                notifications.c.message_key == key).limit(1)).first()
        if provider_id is None and sent is not None:
            provider_id = sent.provider_id
        if provider_id is None:
            log.warning("status.unknown_message", key=key, status=status)
            return
        changed = self.service.delivery_status(provider_id, status,
                                               str(error_code) if error_code is not None else None, now,
                                               opted_out=opted_out)
        if changed and sent is not None and self.on_outcome is not None:
            self.on_outcome(str(sent.channel), status, error_code)
        if opted_out:
            person = self._by_key(key)[1] if key else None
            if person:
                self.set_sms_blocked(person, True, now)
