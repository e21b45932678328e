"""The adapters onto the real inbox (SQLite): idempotent accept, cursors, lifecycle state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from oncall.sources.lifecycle import Event, TicketState, classify
from oncall.sources.store_adapters import EngineCursors, InboxSink
from oncall.sources.zendesk import parse_zendesk
from oncall.store.db import make_engine, upgrade
from oncall.store.inbox import Inbox
from oncall.testing.helpdesk_payloads import zendesk_webhook_body

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_inbox_sink_round_trip(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'oncall.db'}")
    upgrade(engine)
    inbox = Inbox(engine)
    sink = InboxSink(inbox)
    event = parse_zendesk(zendesk_webhook_body(7, created_at=NOW, status="Solved"))
    assert sink.accept("zendesk", event.event_key, event.ticket, NOW)
    assert not sink.accept("zendesk", event.event_key, event.ticket, NOW)
    [item] = inbox.unprocessed()
    inbox.mark_processed(item.id, "closed", NOW)
    previous = TicketState.from_json(inbox.last_ticket_state("zendesk", "7"))
    reopened = parse_zendesk(zendesk_webhook_body(
        7, created_at=NOW, updated_at=NOW + timedelta(hours=1), status="Open")).ticket
    assert Event.REOPENED == classify(previous, reopened)
    assert TicketState.from_json(None) is None

    cursors = EngineCursors(engine)
    assert cursors.get_cursor("poll:zendesk") is None
    cursors.set_cursor("poll:zendesk", "abc", NOW)
    cursors.set_cursor("poll:zendesk", "def", NOW)
    assert "def" == cursors.get_cursor("poll:zendesk")
    engine.dispose()
