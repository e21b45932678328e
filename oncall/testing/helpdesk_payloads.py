"""Realistic helpdesk payloads for tests: webhook bodies as each vendor renders them, API tickets.

Bodies are bytes exactly as they go over the wire (sign them with the helpers in
:mod:`oncall.testing.fake_helpdesks`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from oncall.testing.fake_helpdesks import iso


def _dump(data: object) -> bytes:
    return json.dumps(data).encode("utf-8")


def generic_body(ticket_id: str = "T-1", *, created_at: datetime, subject: str = "Checkout down",
                 priority: str = "urgent", status: str = "open", **extra: Any) -> bytes:
    data: dict[str, Any] = {"id": ticket_id, "subject": subject, "priority": priority,
                            "status": status, "created_at": iso(created_at)}
    for key, value in extra.items():
        data[key] = iso(value) if isinstance(value, datetime) else value
    return _dump(data)


def zendesk_webhook_body(ticket_id: int = 1042, *, created_at: datetime,
                         updated_at: datetime | None = None, subject: str = "Checkout is down",
                         priority: str = "Urgent", status: str = "Open",
                         organization: str = "Acme Corp", requester: str = "ops@acme.example",
                         tags: Sequence[str] = ("cust_acme", "env_prod"),
                         custom_fields: Mapping[str, str] | None = None) -> bytes:
    """The body our documented trigger template renders to (placeholders are always text)."""
    return _dump({"ticket": {
        "id": str(ticket_id),
        "subject": subject,
        "priority": priority,
        "status": status,
        "created_at": iso(created_at),
        "updated_at": iso(updated_at or created_at),
        "organization": organization,
        "requester": requester,
        "tags": " ".join(tags),
        "url": f"acme.zendesk.com/agent/tickets/{ticket_id}",
        "custom_fields": dict(custom_fields or {}),
    }})


def zendesk_api_ticket(ticket_id: int, *, created_at: datetime,
                       updated_at: datetime | None = None, subject: str = "Checkout is down",
                       priority: str | None = "urgent", status: str = "open",
                       organization_id: int | None = 501, requester_id: int | None = 601,
                       tags: Sequence[str] = ("cust_acme",),
                       custom_fields: Mapping[int, object] | None = None) -> dict[str, Any]:
    """A ticket as the Zendesk API (and its incremental export) returns it."""
    return {
        "url": f"https://acme.zendesk.com/api/v2/tickets/{ticket_id}.json",
        "id": ticket_id,
        "external_id": None,
        "via": {"channel": "email"},
        "created_at": iso(created_at),
        "updated_at": iso(updated_at or created_at),
        "type": "incident",
        "subject": subject,
        "raw_subject": subject,
        "description": "Our checkout returns 500 for every order.",
        "priority": priority,
        "status": status,
        "requester_id": requester_id,
        "submitter_id": requester_id,
        "assignee_id": None,
        "organization_id": organization_id,
        "group_id": 7,
        "tags": list(tags),
        "custom_fields": [{"id": k, "value": v} for k, v in (custom_fields or {}).items()],
        "satisfaction_rating": None,
        "brand_id": 1,
    }


def freshdesk_webhook_body(ticket_id: int = 77, *, subject: str = "Cannot log in",
                           priority: str | int = "Urgent", status: str | int = "Open",
                           company: str = "Acme Corp", requester: str = "ops@acme.example",
                           tags: str = "vip,production",
                           custom_fields: Mapping[str, str] | None = None,
                           created_at: datetime | None = None,
                           updated_at: datetime | None = None) -> bytes:
    ticket: dict[str, Any] = {
        "id": str(ticket_id), "subject": subject, "priority": str(priority),
        "status": str(status), "company": company, "requester": requester, "tags": tags,
        "url": f"https://acme.freshdesk.com/helpdesk/tickets/{ticket_id}",
        "custom_fields": dict(custom_fields or {}),
    }
    if created_at is not None:
        ticket["created_at"] = iso(created_at)
    if updated_at is not None:
        ticket["updated_at"] = iso(updated_at)
    return _dump({"ticket": ticket})


def freshdesk_api_ticket(ticket_id: int, *, created_at: datetime, updated_at: datetime,
                         subject: str = "Cannot log in", priority: int = 4, status: int = 2,
                         company_id: int | None = 9001, requester_id: int = 3001,
                         tags: Sequence[str] = ("vip",),
                         custom_fields: Mapping[str, object] | None = None) -> dict[str, Any]:
    """A ticket as ``GET /api/v2/tickets`` lists it."""
    return {
        "id": ticket_id, "subject": subject, "priority": priority, "status": status,
        "source": 1, "type": "Incident", "company_id": company_id,
        "requester_id": requester_id, "responder_id": None, "group_id": None,
        "tags": list(tags), "custom_fields": dict(custom_fields or {}),
        "created_at": iso(created_at), "updated_at": iso(updated_at),
        "due_by": iso(updated_at), "fr_due_by": iso(updated_at), "is_escalated": False,
    }


def jira_webhook_body(key: str = "SUP-42", *, created_at: datetime,
                      updated_at: datetime | None = None,
                      event: str = "jira:issue_created", summary: str = "Production API down",
                      priority: str = "Highest", status: str = "Waiting for support",
                      status_category: str = "indeterminate",
                      reporter: str = "ops@acme.example", labels: Sequence[str] = (),
                      custom_fields: Mapping[str, object] | None = None,
                      changes: Sequence[tuple[str, str, str]] = ()) -> bytes:
    """A Jira Service Management webhook body (``jira:issue_created``/``_updated``)."""
    fmt = "%Y-%m-%dT%H:%M:%S.000+0000"  # Jira's own timestamp style
    updated = updated_at or created_at
    data: dict[str, Any] = {
        "timestamp": int(updated.timestamp() * 1000),
        "webhookEvent": event,
        "issue_event_type_name": "issue_created" if event.endswith("created") else
        "issue_generic",
        "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Agent"},
        "issue": {
            "id": "10042",
            "self": f"https://acme.atlassian.net/rest/api/2/issue/{key}",
            "key": key,
            "fields": {
                "summary": summary,
                "issuetype": {"name": "Incident"},
                "priority": {"name": priority, "id": "1"},
                "status": {"name": status, "statusCategory": {"key": status_category}},
                "reporter": {"emailAddress": reporter, "displayName": "Ops"},
                "created": created_at.astimezone(UTC).strftime(fmt),
                "updated": updated.astimezone(UTC).strftime(fmt),
                "labels": list(labels),
                **dict(custom_fields or {}),
            },
        },
    }
    if changes:
        data["changelog"] = {"id": "10300", "items": [
            {"field": f, "fieldtype": "jira", "fromString": a, "toString": b}
            for f, a, b in changes]}
    return _dump(data)


def zendesk_event_body(event: str = "ticket.created", ticket_id: int = 35436, *, at: datetime,
                       created_at: datetime | None = None, subject: str = "Checkout is down",
                       priority: str | None = "URGENT", status: str = "OPEN",
                       organization_id: str | None = "360001", requester_id: str | None = "601",
                       custom_status: str | None = None, tags: Sequence[str] = (),
                       event_id: str | None = None, change: Mapping[str, Any] | None = None) -> bytes:
    """A Zendesk event-subscription webhook body (``zen:event-type:<event>``), shaped as Zendesk's
    webhook reference documents it: ids as strings, status and priority in upper case."""
    return _dump({
        "type": f"zen:event-type:{event}",
        "account_id": 12514403,
        "id": event_id or f"evt-{event}-{ticket_id}-{int(at.timestamp())}",
        "time": iso(at),
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{ticket_id}",
        "detail": {
            "actor_id": requester_id or "-1", "assignee_id": None, "brand_id": "1",
            "created_at": iso(created_at or at), "custom_status": custom_status,
            "description": "Our checkout returns 500 for every order.", "external_id": None,
            "form_id": "1", "group_id": "98738", "id": str(ticket_id), "is_public": True,
            "organization_id": organization_id, "priority": priority, "requester_id": requester_id,
            "status": status, "subject": subject, "submitter_id": requester_id, "tags": list(tags),
            "type": "INCIDENT", "updated_at": iso(at), "via": {"channel": "web"},
        },
        "event": {**dict(change or {}), "meta": {"sequence": {"id": "4f1c", "position": 1}}},
    })
