"""Telling admins about ticket values oncall does not know, and tickets it cannot read.

A helpdesk admin can add statuses, priorities and custom-field options at any time. oncall
decides such tickets with a fallback (see :mod:`oncall.tickets`) and, so that somebody maps the
new value, this module

* counts every occurrence in ``oncall_unmapped_values_total{source,field}`` and every polled
  ticket that could not be read at all in ``oncall_tickets_unreadable_total{source}``;
* tells the admins once per source, field and value (once per unreadable ticket), through
  :class:`oncall.alerts.AdminAlerts`, whose claims live in the database: a restart does not
  repeat them. Keys already claimed by this process are remembered in memory, so a value
  seen on every ticket costs no database read after the first.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from prometheus_client import Counter

from oncall import logs
from oncall.escalation.alerting import AlertSeverity
from oncall.sources.pollers import UnreadableTicket
from oncall.tickets import unmapped_note

log = logs.get("oncall.vocabulary")

MAX_KEY_VALUE = 60


class Alerter(Protocol):
    def alert(self, key: str, text: str, now: datetime, *, severity: AlertSeverity = ...) -> int:
        """Tell the admins ``text`` once per ``key`` (persistently); returns how many got it."""
        ...


def _key_part(value: str) -> str:
    # cursor names are at most 200 characters; a long label is keyed by its digest
    if len(value) <= MAX_KEY_VALUE and ":" not in value:
        return value
    return "sha256-" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def unmapped_key(source: str, field: str, value: str) -> str:
    """The admin-alert key of one unmapped value (``unmapped:<source>:<field>:<value>``)."""
    return f"unmapped:{source}:{field}:{_key_part(value.strip().lower())}"


class VocabularyReports:
    """Counts and reports unmapped values and unreadable tickets (thread-safe)."""

    def __init__(self, alerts: Alerter, *, unmapped: Counter, unreadable: Counter) -> None:
        self.alerts = alerts
        self.unmapped_counter = unmapped
        self.unreadable_counter = unreadable
        self._told: set[str] = set()
        self._lock = threading.Lock()

    def _once(self, key: str, text: str, now: datetime) -> None:
        with self._lock:
            if key in self._told:
                return
        # A value oncall does not know is a warning: a text or an e-mail, never a call.
        self.alerts.alert(key, text, now, severity=AlertSeverity.WARNING)  # claims the key first
        with self._lock:
            self._told.add(key)

    def unmapped(self, source: str, ticket_id: str, values: Mapping[str, str], now: datetime) -> None:
        """A processed ticket of ``source`` carried ``values`` (field → raw) oncall does not know."""
        for field, raw in sorted(values.items()):
            self.unmapped_counter.labels(source, field).inc()
            self._once(unmapped_key(source, field, raw),
                       f"{source} ticket {ticket_id}: {unmapped_note(field, raw)}, in the "
                       f"sources entry {source!r} of the configuration. Told once per value.", now)

    def unreadable(self, ticket: UnreadableTicket) -> None:
        """A poller could not read a ticket at all: it was not processed."""
        self.unreadable_counter.labels(ticket.source).inc()
        which = f"ticket {ticket.ticket_id}" if ticket.ticket_id else "a ticket without an id"
        ref = ticket.ticket_id or _key_part(f"{ticket.field}:{ticket.reason}")
        self._once(f"unreadable:{ticket.source}:{_key_part(ref)}:{_key_part(ticket.field)}",
                   f"{ticket.source}: {which} could not be read ({ticket.field}: {ticket.reason}) "
                   "and was NOT processed; look at it in the helpdesk.", ticket.at)
