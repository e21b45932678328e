"""Telling admins: blocked phones, silent ticket sources, coverage gaps, bad reloads.

Alerts go straight to the transport (they belong to no incident) and are
de-duplicated through the cursors table, so a restart does not repeat them, and several
instances seeing the same problem tell the admins once: each alert's key is claimed with one
insert on the table's primary key before anything is sent (``claim_once``), so exactly one
caller wins, whoever races. Which address
an admin is reached at on a channel is the channel's descriptor's to say
(:func:`oncall.notify.channels.reachable`).

A person who texts STOP, however oncall learns it (their STOP reaching us, a status callback
or a send refused for that reason), goes through :meth:`AdminAlerts.sms_opted_out`: remembered
once, and the admins told once.

Each alert has a severity (:mod:`oncall.escalation.alerting`): a *warning* — a configuration
or source problem — goes by SMS or e-mail and never rings a phone unless an admin asked for
that; only a *critical* one, paging is broken, may call. The default is warning: a call site
says ``critical`` only when pages cannot get through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from oncall import logs
from oncall.config.snapshot import Snapshot
from oncall.errors import DeliveryError
from oncall.escalation.alerting import AlertSeverity, with_stop_fallback
from oncall.interfaces import Channel, Outbound, Transport
from oncall.notify.channels import reachable
from oncall.store.inbox import get_cursor, set_cursor
from oncall.store.leases import UNFENCED, Fencing, claim_once
from oncall.store.tables import cursors

log = logs.get("oncall.alerts")

SMS_BLOCKED = "sms_blocked:"
_TITLE = {AlertSeverity.WARNING: "oncall admin alert", AlertSeverity.CRITICAL: "oncall CRITICAL admin alert"}
# What the admins read when a person opts out of SMS, by how oncall learnt it.
STOP_TEXTED = ("{person} texted STOP: SMS pages to them are blocked until they text START; "
               "they will be called instead.")
STOP_REFUSED = ("SMS to {person} is refused by the carrier (they texted STOP); "
                "they are called instead until they text START.")


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

    def refresh_blocked(self) -> None:
        """Re-read who texted STOP: another process or instance may have learnt it. Never from
        inside a write transaction (see ``__init__``)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(cursors.c.name, cursors.c.value).where(
                cursors.c.name.startswith(SMS_BLOCKED, autoescape=True))).all()
        self._blocked = {name[len(SMS_BLOCKED):] for name, value in rows if value == "1"}

    def sms_opted_out(self, person_id: str, now: datetime, *, told: str = STOP_TEXTED) -> bool:
        """``person_id`` texted STOP. Remember it, so the next page calls them at once instead
        of failing on SMS first, and tell the admins (``told``, ``{person}`` filled in) — once
        per episode: a second STOP, or a refusal for a phone already blocked, is the same one
        (the alert's key has ``now``). Returns whether this was news."""
        if self.sms_blocked(person_id):
            return False
        self.set_sms_blocked(person_id, True, now)
        log.critical("sms.blocked_by_person", person=person_id)
        self.alert(f"stop:{person_id}:{now.isoformat()}", told.format(person=person_id), now,
                   severity=AlertSeverity.WARNING)
        return True

    def alert(self, key: str, text: str, now: datetime, *,
              severity: AlertSeverity = AlertSeverity.WARNING, fence: Fencing = UNFENCED) -> int:
        """Send ``text`` to every admin once per ``key``, by the channels each admin has for
        ``severity`` (the first that delivers); returns how many got it. ``fence``: the lease
        of the duty raising it, when it is a singleton's (raises :class:`~oncall.errors.LeaseLost`)."""
        name = f"alert:{key}"
        if get_cursor(self.engine, name) is not None:
            return 0
        # Claim first: an alert is better lost in a crash than repeated in a loop.
        if not claim_once(self.engine, name, now.isoformat(), now, fence):
            return 0
        snapshot = self.snapshot()
        sent = 0
        log.critical("admin.alert", key=key, text=text, severity=severity.value)
        for admin in snapshot.notifications.admins:
            person = snapshot.people.get(admin)
            if person is None:
                continue
            own = [Channel(m) for m in person.contact_methods]
            channels = snapshot.notifications.alert_channels(admin, severity, own)
            blocked = self.sms_blocked(admin)
            for channel in with_stop_fallback(channels, severity, blocked):
                address = reachable(person, channel, sms_blocked=blocked)
                if address is None or channel not in self.transport.channels():
                    continue
                try:
                    self.transport.send(Outbound(
                        key=f"alert-{abs(hash((key, admin))) % 10**12}", channel=channel, to=address,
                        person_id=admin, incident_ids=(), text=f"{_TITLE[severity]}: {text}"[:600],
                        subject=_TITLE[severity]))
                except DeliveryError as exc:
                    log.error("admin.alert_failed", person=admin, channel=channel.value, error=str(exc))
                    continue
                sent += 1
                break
        if not sent:
            log.critical("admin.alert_undelivered", key=key, text=text, severity=severity.value)
        return sent


# Coverage gaps are looked for a day ahead; a gap under way is looked back on up to a week,
# so that its key (its true start) stays the same minute after minute. One under way for
# longer than that is keyed by the day: said once a day, never once a minute.
GAP_AHEAD = timedelta(hours=24)
GAP_BEHIND = timedelta(days=7)


@dataclass(frozen=True, kw_only=True)
class PendingAlert:
    """An alert to hand to :meth:`AdminAlerts.alert`."""

    key: str
    text: str
    severity: AlertSeverity


def coverage_gap_alerts(snapshot: Snapshot, now: datetime, *,
                        behind: timedelta = GAP_BEHIND) -> list[PendingAlert]:
    """Schedules an escalation policy uses with nobody on call within a day. Ahead of a gap:
    a warning. Once it is under way pages reach nobody, so paging is broken: critical."""
    from oncall.escalation.policy import policy_schedule_ids

    out = []
    for sid in sorted(policy_schedule_ids(snapshot.escalation_policies.values())):
        schedule = snapshot.schedules.get(sid)
        if schedule is None:
            continue
        tz = schedule.timezone
        for start, end in snapshot.resolved(sid).gaps(now - behind, now + GAP_AHEAD):
            if end <= now:
                continue
            until = "to at least" if end >= now + GAP_AHEAD else "to"
            span = f"from {start.astimezone(tz):%a %H:%M} {until} {end.astimezone(tz):%a %H:%M} ({tz.key})"
            if start <= now:
                since = start.isoformat() if start > now - behind else f"long:{now.astimezone(tz).date()}"
                out.append(PendingAlert(
                    key=f"gap-now:{sid}:{since}", severity=AlertSeverity.CRITICAL,
                    text=f"nobody is on call now for schedule {sid}: its pages reach nobody {span}"))
            else:
                out.append(PendingAlert(key=f"gap:{sid}:{start.isoformat()}", severity=AlertSeverity.WARNING,
                                        text=f"schedule {sid} has nobody on call {span}"))
    return out
