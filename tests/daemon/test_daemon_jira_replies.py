"""Jira comments through the daemon: support's public comment answers the first-response clock,
the customer's comment starts the next-response clock from that message."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from daemon_rig import NY, PEOPLE, MakeRig, Rig, write_config
from sqlalchemy import select

from oncall.sources.jira import sign_request
from oncall.store.tables import response_clocks
from oncall.store.types import as_utc
from oncall.testing.helpdesk_payloads import jira_webhook_body

SECRET = "jira-secret"
TUESDAY = datetime(2026, 11, 24, 9, 0, tzinfo=NY)
DESK = """\
desks:
  - id: east
    timezone: America/New_York
    hours: {mon-fri: "08:00-16:00"}
rules:
  - {name: never, page: false}
response_targets:
  - name: urgent
    when: {priority: urgent}
    first_response: 2h
    next_response: 4h
    clock: business
"""
AGENT = {"accountId": "5b10a2844c20165700ede21g", "displayName": "Agent Ann", "accountType": "atlassian"}
CUSTOMER = {"accountId": "qm:1a2b3c", "displayName": "Olga", "accountType": "customer"}


def post(rig: Rig, author: dict[str, Any] | None = None) -> None:
    now = rig.clock.now()
    data = json.loads(jira_webhook_body(created_at=TUESDAY, updated_at=now,
                                        event="jira:issue_updated" if author else "jira:issue_created"))
    if author is not None:
        data["issue_event_type_name"] = "issue_commented"
        data["comment"] = {"id": f"c-{int(now.timestamp())}", "author": author, "jsdPublic": True,
                           "created": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")}
    body = json.dumps(data).encode()
    headers = sign_request(SECRET, body, now=now) | {"X-Atlassian-Webhook-Identifier": f"d-{now.timestamp()}"}
    assert 202 == rig.request("POST", "/webhooks/tickets/jira", content=body, headers=headers).status_code
    rig.work()
    rig.run("response-clocks")


def clock(rig: Rig) -> Any:
    with rig.daemon.engine.connect() as conn:
        [row] = conn.execute(select(response_clocks)).all()
    return row


def test_support_comment_answers_and_the_customers_comment_starts_the_next_response_clock(
        make_rig: MakeRig, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config-jira", desk=DESK, people=PEOPLE)
    # a new JSM request is "Waiting for support" already: only a reply answers it
    (config / "sources.yaml").write_text("sources:\n  - id: jira\n    responded_when: [agent_reply]\n")
    rig = make_rig(TUESDAY, config=config, sources={"jira": {"secret": SECRET}})
    post(rig)
    assert ("first", None) == (clock(rig).kind, clock(rig).responded_at)
    rig.clock.advance(timedelta(minutes=30))
    post(rig, AGENT)
    assert ("first", TUESDAY + timedelta(minutes=30)) == (clock(rig).kind, as_utc(clock(rig).responded_at))
    rig.clock.advance(timedelta(minutes=30))
    post(rig, CUSTOMER)
    row = clock(rig)
    assert ("next", TUESDAY + timedelta(hours=1), None) == (row.kind, as_utc(row.started_at), row.responded_at)
    assert TUESDAY + timedelta(hours=5) == as_utc(row.due_at)
