"""Adapters from the store's inbox and cursor functions to :class:`TicketSink`/:class:`CursorStore`.

Kept here (not in ``oncall.store``) so the store stays ignorant of Ticket parsing; the daemon
builds ``InboxSink(Inbox(engine))`` and ``EngineCursors(engine)``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from oncall.store.inbox import Inbox, get_cursor, set_cursor
from oncall.tickets import Ticket


class InboxSink:
    """:class:`TicketSink` on the inbox table: stores the ticket's generic JSON form."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def accept(self, source: str, event_key: str, ticket: Ticket, received_at: datetime) -> bool:
        _, is_new = self.inbox.receive(source, event_key, ticket.to_json(), received_at)
        return is_new


class EngineCursors:
    """:class:`CursorStore` on the cursors table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get_cursor(self, name: str) -> str | None:
        return get_cursor(self.engine, name)

    def set_cursor(self, name: str, value: str, at: datetime) -> None:
        set_cursor(self.engine, name, value, at)
