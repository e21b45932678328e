"""What a chat post looks like in each service's documented webhook format: one golden JSON file
per service (``chat_golden/<kind>.json``) holds a page, a bundle, an admin alert and the
updates. ``GOLDEN_UPDATE=1 pytest tests/notify/test_notify_chat_formats.py`` rewrites them after
a deliberate change (then read the diff)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from oncall.notify.chat_formats import ChatKind, ChatPost, notice_post, page_wording, render
from oncall.notify.chat_updates import update_post
from oncall.notify.messages import PageSummary

GOLDEN = Path(__file__).parent / "chat_golden"
BASE = "https://oncall.example.com"


def link(incident_id: int) -> str:
    return f"{BASE}/incidents/{incident_id}"


def summary(n: int, subject: str = "Production down", priority: str = "urgent") -> PageSummary:
    return PageSummary(code=n, priority=priority, customer="acme", subject=subject, ticket_id=f"T-{1000 + n}")


def audit_row(kind: str, **more: Any) -> SimpleNamespace:
    row = {"id": 40, "incident_id": 12, "at": datetime(2026, 11, 28, 8, 5, tzinfo=UTC), "actor": "erin",
           "channel": "sms", "kind": kind, "reason": None, "priority": "urgent", "customer": "acme",
           "subject": "Production down", "ticket_id": "T-1001"}
    return SimpleNamespace(**(row | more))


CASES: dict[str, ChatPost] = {
    "page": notice_post(page_wording([summary(1)]), (12,), link),
    "bundle": notice_post(page_wording([summary(1), summary(2, "Checkout fails"), summary(3, "API slow")]),
                          (12, 13, 14), link),
    "admin_alert": notice_post("oncall admin alert: schedule emergency has nobody on call from Sat 03:00 "
                               "to Sat 09:00 (America/New_York)", (), link),
    "acknowledged": update_post(audit_row("acknowledged"), link=link(12), name="Erin Evans"),
    "escalated": update_post(audit_row("escalated", actor="frank", channel="web"), link=link(12), name=None),
    "resolved": update_post(audit_row("resolved", channel="cli"), link=link(12), name="Erin Evans"),
    "cancelled": update_post(audit_row("cancelled", actor="ticket", channel=None, reason="ticket solved"),
                             link=link(12), name=None),
}


@pytest.mark.parametrize("kind", list(ChatKind), ids=str)
def test_each_post_matches_the_services_golden_json(kind: ChatKind) -> None:
    rendered = {case: render(kind, post) for case, post in CASES.items()}
    path = GOLDEN / f"{kind.value}.json"
    if os.environ.get("GOLDEN_UPDATE") == "1":
        path.write_text(json.dumps(rendered, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8")) == rendered


def test_a_page_is_worded_without_reply_codes_and_says_how_to_act() -> None:
    post = CASES["page"]
    assert "URGENT acme: Production down (ticket T-1001)" == post.title
    assert "1a" not in post.title
    assert "oncall ack 12" in post.hint and "not an acknowledgement" in post.hint
    assert [f"{BASE}/incidents/12"] == [link.url for link in post.links]


def test_a_bundle_lists_its_incidents_oldest_first_under_a_count() -> None:
    post = CASES["bundle"]
    assert "3 new urgent incidents" == post.title
    assert ("URGENT acme: Production down (ticket T-1001)", "URGENT acme: Checkout fails (ticket T-1002)",
            "URGENT acme: API slow (ticket T-1003)") == post.lines


HOSTILE = "<!channel> & @here <users/all> [click](https://evil.example) *x*"


def test_ticket_text_cannot_mention_everyone_or_inject_links() -> None:
    """A subject comes from a customer: Slack's control characters become entities, Mattermost's
    mentions and Markdown are neutralised, Google Chat's <…> markup cannot form."""
    post = notice_post(page_wording([summary(1, HOSTILE)]), (12,), link)
    slack = json.dumps(render(ChatKind.SLACK, post))
    assert "<!channel>" not in slack and "&lt;!channel&gt; &amp; @here" in slack
    mattermost = render(ChatKind.MATTERMOST, post)["text"]
    assert "@here" not in mattermost and "@\u200bhere" in mattermost
    assert "[click](https" not in mattermost and "\\[click\\](https" in mattermost
    google = render(ChatKind.GOOGLECHAT, post)["text"]
    assert "<users/all>" not in google and "\u2039users/all\u203a" in google
    assert f"<{BASE}/incidents/12|Incident #12>" in google  # our own link stays a link


def test_long_subjects_and_big_bundles_are_cut() -> None:
    post = notice_post(page_wording([summary(n, "x" * 1000) for n in range(1, 31)]), tuple(range(1, 31)), link)
    text = render(ChatKind.SLACK, post)["blocks"][0]["text"]["text"]
    assert "and 18 more" in text
    assert max(len(line) for line in text.splitlines()) <= 310
