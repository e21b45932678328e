"""Jira comments for the response clocks: a public comment by the customer (a JSM portal
customer, or the issue's reporter) is the customer writing again; one by anybody else is
support's reply; an internal note is neither. Read from ``jira:issue_updated`` (which carries a
comment with the whole issue) and from ``comment_created``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncall.sources.jira import parse_jira
from oncall.sources.payload import IgnoredEvent
from oncall.testing.helpdesk_payloads import jira_webhook_body

NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
WROTE = NOW + timedelta(minutes=30)
AGENT = {"accountId": "5b10a2844c20165700ede21g", "displayName": "Agent Ann", "accountType": "atlassian"}
PORTAL_CUSTOMER = {"accountId": "qm:1a2b3c", "displayName": "Olga", "accountType": "customer"}
REPORTER = {"accountId": "5b10a2844c20165700ede99r", "emailAddress": "ops@acme.example", "accountType": "atlassian"}


def commented(author: dict[str, Any], *, event: str = "jira:issue_updated", **comment: Any) -> bytes:
    """The body Jira sends for a comment added: the issue, and the comment at the top level."""
    data = json.loads(jira_webhook_body(created_at=NOW, updated_at=WROTE, event="jira:issue_updated"))
    data["webhookEvent"] = event
    data["issue_event_type_name"] = "issue_commented"
    data["issue"]["fields"]["reporter"] = {"accountId": REPORTER["accountId"], "emailAddress": "ops@acme.example"}
    if event == "comment_created":  # its issue is shorter: no reporter, no dates, no custom fields
        fields = data["issue"]["fields"]
        data["issue"]["fields"] = {k: fields[k] for k in ("summary", "issuetype", "priority", "status")}
    data["comment"] = {"id": "10301", "author": author, "updateAuthor": author, "body": "Any news?",
                       "created": WROTE.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                       "updated": WROTE.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), **comment}
    return json.dumps(data).encode()


@pytest.mark.parametrize("author", [PORTAL_CUSTOMER, REPORTER], ids=["portal customer", "reporter"])
def test_a_public_comment_by_the_customer_is_the_customer_writing_again(author: dict[str, Any]) -> None:
    t = parse_jira(commented(author, jsdPublic=True)).ticket
    assert (WROTE, None) == (t.customer_replied_at, t.agent_replied_at)


def test_a_public_comment_by_an_agent_is_supports_reply() -> None:
    t = parse_jira(commented(AGENT, jsdPublic=True)).ticket
    assert (None, WROTE) == (t.customer_replied_at, t.agent_replied_at)


@pytest.mark.parametrize("internal", [{"jsdPublic": False}, {"visibility": {"type": "role", "value": "Developers"}}],
                         ids=["JSM internal note", "restricted visibility"])
def test_an_internal_note_is_no_reply_but_the_update_is_still_read(internal: dict[str, Any]) -> None:
    parsed = parse_jira(commented(AGENT, **internal))
    assert ("SUP-42", None, None) == (parsed.ticket.id, parsed.ticket.customer_replied_at,
                                      parsed.ticket.agent_replied_at)


def test_comment_created_is_read_and_a_customer_account_is_the_customer() -> None:
    t = parse_jira(commented(PORTAL_CUSTOMER, event="comment_created", jsdPublic=True), received_at=WROTE).ticket
    assert ("SUP-42", "comment_created", WROTE) == (t.id, t.extras["jira_event"], t.customer_replied_at)
    # no jsdPublic: plain Jira, whose comments without a visibility restriction are public
    agent = parse_jira(commented(AGENT, event="comment_created"), received_at=WROTE).ticket
    assert WROTE == agent.agent_replied_at


def test_an_internal_comment_created_is_acknowledged_and_not_stored() -> None:
    with pytest.raises(IgnoredEvent, match="internal comment"):
        parse_jira(commented(AGENT, event="comment_created", jsdPublic=False), received_at=WROTE)


def test_an_update_without_a_comment_carries_no_reply() -> None:
    t = parse_jira(jira_webhook_body(created_at=NOW, updated_at=WROTE, event="jira:issue_updated")).ticket
    assert (None, None) == (t.customer_replied_at, t.agent_replied_at)
