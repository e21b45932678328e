"""Write-back: the audit log becomes internal notes on the ticket; public replies only when allowed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from support.harness import Paging

from oncall.incidents.model import TicketSummary
from oncall.sources.writeback import Note, NoteKind
from oncall.store.db import make_engine, upgrade
from oncall.writeback_feed import WriteBackFeed

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


class RecordingWriteBack:
    def __init__(self, ok: bool = True) -> None:
        self.notes: list[Note] = []
        self.ok = ok

    def post(self, note: Note) -> bool:
        self.notes.append(note)
        return self.ok


def paging(tmp_path: Path) -> Paging:
    engine = make_engine(f"sqlite:///{tmp_path / 'o.db'}")
    upgrade(engine)
    return Paging(engine)


def test_page_ack_and_escalation_become_notes_on_the_right_ticket(tmp_path: Path) -> None:
    p = paging(tmp_path)
    inc = p.service.open_or_update(TicketSummary(source="zendesk", ticket_id="42", subject="down"), "primary", T0)
    p.runner.run_due(T0)
    p.service.escalate(inc.id, "ann", T0 + timedelta(minutes=1), "sms")
    p.runner.run_due(T0 + timedelta(minutes=1))
    p.service.ack(inc.id, "cat", T0 + timedelta(minutes=2), "sms")
    other = p.service.open_or_update(TicketSummary(source="generic", ticket_id="7"), "primary", T0)
    wb = RecordingWriteBack()
    feed = WriteBackFeed(p.engine, {"zendesk": wb})
    feed.run_once(T0 + timedelta(minutes=3))
    kinds = [n.kind for n in wb.notes]
    assert NoteKind.PAGE_SENT in kinds and NoteKind.ESCALATED in kinds and NoteKind.ACKNOWLEDGED in kinds
    assert {("zendesk", "42")} == {(n.source, n.ticket_id) for n in wb.notes}
    assert any("acknowledged by cat" in n.text for n in wb.notes)
    assert all(not n.public for n in wb.notes)
    assert other.id != inc.id


def test_each_audit_row_is_written_back_once_across_restarts(tmp_path: Path) -> None:
    p = paging(tmp_path)
    inc = p.service.open_or_update(TicketSummary(source="zendesk", ticket_id="42"), "primary", T0)
    p.runner.run_due(T0)
    wb = RecordingWriteBack()
    WriteBackFeed(p.engine, {"zendesk": wb}).run_once(T0)
    first = len(wb.notes)
    WriteBackFeed(p.engine, {"zendesk": wb}).run_once(T0 + timedelta(seconds=10))  # a new process, same cursor
    assert first == len(wb.notes) > 0
    p.service.ack(inc.id, "ann", T0 + timedelta(minutes=1), "cli")
    WriteBackFeed(p.engine, {"zendesk": wb}).run_once(T0 + timedelta(minutes=2))
    assert NoteKind.ACKNOWLEDGED == wb.notes[-1].kind and first + 1 == len(wb.notes)


def test_public_reply_is_off_unless_the_source_allows_it(tmp_path: Path) -> None:
    from oncall.config.loader import load
    from oncall.rules import TicketEvent, decide
    from oncall.tickets import parse_ticket

    snapshot = load(Path(__file__).resolve().parents[2] / "examples" / "eastern-emergency", now=T0)
    ticket = parse_ticket({"id": "9", "source": "zendesk", "priority": "urgent", "customer": "resold",
                           "created_at": "2026-11-28T03:00:00-05:00"})
    decision = decide(ticket, TicketEvent.CREATED, snapshot, datetime.fromisoformat("2026-11-28T03:00:00-05:00"))
    p = paging(tmp_path)
    wb = RecordingWriteBack()
    off = WriteBackFeed(p.engine, {"zendesk": wb})
    on = WriteBackFeed(p.engine, {"zendesk": wb}, public=lambda s: s == "zendesk")
    with p.engine.begin() as conn:
        assert not off.queue_public_reply("zendesk", "9", decision, "Direct support", T0, conn)
        assert on.queue_public_reply("zendesk", "9", decision, "Direct support", T0, conn)
    on.run_once(T0)
    [note] = wb.notes
    assert note.public and "Mon 30 Nov 08:00" in note.text
