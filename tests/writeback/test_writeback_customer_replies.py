"""Honest words to the customer: an acknowledged after-hours page answered in public (when the
source wants it), the "not covered" reply in the configuration's words, and templates whose
unknown placeholders are configuration errors with file and line."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.harness import Paging

from oncall.config.loader import check, load
from oncall.customer_replies import CustomerReplies
from oncall.daemon.duties.writeback import acknowledgement_reply
from oncall.incidents.model import TicketSummary
from oncall.rules import TicketEvent, decide
from oncall.sources.settings import SourceSettings
from oncall.sources.writeback import Note
from oncall.store.db import make_engine, upgrade
from oncall.tickets import parse_ticket
from oncall.writeback_feed import WriteBackFeed

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "eastern-emergency"
SATURDAY_3AM = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)  # 03:00 in New York: the desk is closed
MONDAY_9AM = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # open


class RecordingWriteBack:
    def __init__(self) -> None:
        self.notes: list[Note] = []

    def post(self, note: Note) -> bool:
        self.notes.append(note)
        return True


def acked(tmp_path: Path, paged_at: datetime, *, ack_replies: bool = True,
          replies: CustomerReplies | None = None) -> list[Note]:
    engine = make_engine(f"sqlite:///{tmp_path / 'o.db'}")
    upgrade(engine)
    p = Paging(engine)
    snapshot = load(EXAMPLE, now=paged_at)
    if replies is not None:
        snapshot = replace(snapshot, customer_replies=replies)
    inc = p.service.open_or_update(TicketSummary(source="zendesk", ticket_id="42", customer="acme"), "primary",
                                   paged_at)
    p.service.ack(inc.id, "cat", paged_at + timedelta(minutes=7), "sms")
    wb = RecordingWriteBack()
    feed = WriteBackFeed(engine, {"zendesk": wb})
    sources = {"zendesk": SourceSettings(public_ack_replies=ack_replies)}
    reply = acknowledgement_reply(sources, lambda: snapshot)
    if reply is not None:
        feed.answer_acknowledgements(reply)
    feed.run_once(paged_at + timedelta(minutes=8))
    return [n for n in wb.notes if n.public]


def test_an_acknowledged_after_hours_page_tells_the_customer_an_engineer_is_on_it(tmp_path: Path) -> None:
    [note] = acked(tmp_path, SATURDAY_3AM)
    assert ("An engineer is working on your request: our on-call engineer was paged at Sat 28 Nov 03:00 EST "
            "and acknowledged the page at Sat 28 Nov 03:07 EST.") == note.text


def test_a_page_during_business_hours_gets_no_public_reply(tmp_path: Path) -> None:
    assert [] == acked(tmp_path, MONDAY_9AM)


def test_no_public_reply_unless_the_source_asks_for_it(tmp_path: Path) -> None:
    assert [] == acked(tmp_path, SATURDAY_3AM, ack_replies=False)


def test_the_acknowledged_reply_uses_the_configured_words(tmp_path: Path) -> None:
    [note] = acked(tmp_path, SATURDAY_3AM, replies=CustomerReplies(
        acknowledged="Ticket {ticket}: {desk} paged its engineer at {paged_at}."))
    assert "Ticket 42: Direct support (US Eastern) paged its engineer at Sat 28 Nov 03:00 EST." == note.text


def test_the_not_covered_reply_uses_the_configured_words() -> None:
    snapshot = load(EXAMPLE, now=SATURDAY_3AM)
    ticket = parse_ticket({"id": "9", "source": "zendesk", "priority": "urgent", "customer": "resold",
                           "created_at": SATURDAY_3AM.isoformat()})
    decision = decide(ticket, TicketEvent.CREATED, snapshot, SATURDAY_3AM)
    from oncall.writeback_feed import public_reply_text

    assert "Our east desk opens Mon 30 Nov 08:00 EST (ticket 9)." == public_reply_text(
        decision, "east", "Our {desk} desk opens {opens_at} (ticket {ticket}).", "9")


CONFIG = """\
desks:
  - {id: east, timezone: America/New_York, hours: {mon-fri: "08:00-16:00"}}
rules:
  - {name: all, page: false}
customer_replies:
  ENTRY
"""
ENTRY_LINE = CONFIG.splitlines().index("  ENTRY") + 1
CASES = {
    "unknown placeholder in not_covered": (
        'not_covered: "We open at {opening}"',
        "unknown placeholder {opening} (known: {desk}, {opens_at}, {respond_by}, {respond_by_sentence}, {ticket})"),
    "unknown placeholder in acknowledged": (
        'acknowledged: "Paged {person} at {paged_at}"',
        "unknown placeholder {person} (known: {desk}, {paged_at}, {acknowledged_at}, {ticket})"),
    "a brace left open": ('acknowledged: "Paged at {paged_at"', "malformed template"),
}


@pytest.mark.parametrize(("entry", "message"), CASES.values(), ids=CASES.keys())
def test_a_template_with_an_unknown_placeholder_is_an_error_with_file_and_line(
        tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "oncall.yaml"
    path.write_text(CONFIG.replace("ENTRY", entry))
    _snapshot, issues = check(tmp_path, now=SATURDAY_3AM, horizon=timedelta(days=7))
    [issue] = [str(i) for i in issues if "placeholder" in str(i) or "template" in str(i)]
    assert issue.startswith(f"{path}:{ENTRY_LINE}: error: ") and message in issue, issue
