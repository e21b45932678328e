"""Jira Service Management: ``jira:issue_created`` / ``jira:issue_updated`` webhooks (pure).

Jira sends its own body (no template): ``webhookEvent``, ``timestamp`` (ms), ``issue`` with
``key`` and ``fields`` (``summary``, ``priority.name``, ``status.name`` +
``status.statusCategory.key``, ``reporter.emailAddress``, ``created``, ``updated``, ``labels``,
``customfield_NNNNN``) and, for updates, ``changelog.items[]``. Other events (issue deleted,
comments edited or deleted, …) are acknowledged and ignored (:class:`IgnoredEvent`).

Comments, for the response clocks: a comment added raises ``jira:issue_updated``
(``issue_event_type_name: issue_commented``) with the whole issue and a top-level ``comment``,
and ``comment_created`` (if subscribed) with the same ``comment`` and a shorter issue. The
comment has ``author`` (``accountId``, ``emailAddress``, ``accountType`` — ``customer`` for a
Jira Service Management portal customer), ``created`` and, in JSM, ``jsdPublic`` (false: an
internal note, which the customer does not see). A public comment by the customer (a
``customer`` account, or the issue's reporter) is the customer writing again
(``customer_replied_at``); by anyone else it is support's reply (``agent_replied_at``), at the
comment's ``created``. An internal note (``jsdPublic: false``, or a ``visibility`` restricted to
a group or role) is neither.

The ticket id is the issue key (``SUP-42``). Customer: JSM keeps organisations in a custom
field, so map it (``customer_from: custom_field:customfield_10002``); otherwise the reporter's
e-mail domain is used. A workflow status oncall does not know falls back to its status
category (To Do → new, In Progress → open, Done → solved); ``value_maps.status`` overrides.
A status without a usable category, or a priority oncall does not know (admins add their own),
is read with the Ticket's fallback (open, normal) and kept in ``Ticket.unmapped``.
The delivery id header ``X-Atlassian-Webhook-Identifier`` (unchanged across retries) is the
event key when present. Signature: the webhook's **Secret** makes Jira send
``X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from oncall.errors import TicketError
from oncall.sources.mapping import VendorFacts, mapped_fields, scalar, translated
from oncall.sources.payload import (
    IgnoredEvent,
    ParsedEvent,
    build_ticket,
    load_json,
    obj,
    parsed,
    strings,
    text,
    timestamp,
)
from oncall.sources.registry import HelpdeskKind, register
from oncall.sources.settings import SourceMapping, default_mapping
from oncall.sources.signatures import JIRA_HEADER, sign_jira, verify_jira
from oncall.tickets import Status, parse_status, read_value

TRACKED_EVENTS = ("jira:issue_created", "jira:issue_updated", "comment_created")
COMMENT_CREATED = "comment_created"
EVENT_ID_HEADER = "X-Atlassian-Webhook-Identifier"

# Jira's classic scheme (Blocker…Trivial) next to the default Highest…Lowest
_CLASSIC_PRIORITIES = {"blocker": "urgent", "critical": "urgent", "major": "high",
                       "minor": "low", "trivial": "information"}
_STATUS_CATEGORIES = {"new": Status.NEW, "indeterminate": Status.OPEN, "done": Status.SOLVED}
MAX_CHANGES = 50


def _classic(value: str | None) -> str | None:
    return _CLASSIC_PRIORITIES.get(value.strip().lower(), value) if value else value


def _status(fields: dict[str, Any], mapping: SourceMapping) -> Status | str:
    """The status, else its category's; a name with neither is handed on as text (the Ticket
    reads it as open and keeps it in ``unmapped``)."""
    status = obj(fields, "status", "issue.fields.")
    name = text(status.get("name"), "issue.fields.status.name", required=True, limit=200)
    assert name is not None
    mapped = mapping.translate("status", name)
    try:
        return parse_status(mapped)
    except ValueError:
        category = status.get("statusCategory")
        key = category.get("key") if isinstance(category, dict) else None
        if isinstance(key, str) and key in _STATUS_CATEGORIES:
            return _STATUS_CATEGORIES[key]
        return mapped


def _changes(data: dict[str, Any]) -> list[dict[str, str | None]]:
    changelog = obj(data, "changelog", "", required=False)
    items = changelog.get("items", [])
    if not isinstance(items, list):
        raise TicketError("changelog.items", "expected a list")
    out: list[dict[str, str | None]] = []
    for i, item in enumerate(items[:MAX_CHANGES]):
        if not isinstance(item, dict):
            raise TicketError(f"changelog.items.{i}", "expected an object")
        out.append({
            "field": text(item.get("field"), f"changelog.items.{i}.field", limit=200),
            "from": text(item.get("fromString"), f"changelog.items.{i}.fromString", limit=500),
            "to": text(item.get("toString"), f"changelog.items.{i}.toString", limit=500),
        })
    return out


def _same_user(a: dict[str, Any], b: object) -> bool:
    """Whether two Jira user objects are the same person (Cloud's ``accountId``; Server's
    ``key``/``name``; else the e-mail address)."""
    if not isinstance(b, dict):
        return False
    for key in ("accountId", "key", "name", "emailAddress"):
        mine, theirs = a.get(key), b.get(key)
        if isinstance(mine, str) and isinstance(theirs, str) and mine.strip():
            return mine.strip().lower() == theirs.strip().lower()
    return False


def _comment_reply(data: dict[str, Any], fields: dict[str, Any]) -> dict[str, datetime]:
    """A public comment: ``customer_replied_at`` when the customer wrote it, else
    ``agent_replied_at``; nothing for no comment or an internal note."""
    comment = data.get("comment")
    if comment is None:
        return {}
    if not isinstance(comment, dict):
        raise TicketError("comment", "expected an object")
    if comment.get("jsdPublic") is False or comment.get("visibility"):
        return {}  # an internal note: the customer was not answered
    given = comment.get("author")
    author: dict[str, Any] = given if isinstance(given, dict) else {}
    at = timestamp(comment.get("created"), "comment.created") or timestamp(data.get("timestamp"), "timestamp")
    if at is None:
        raise TicketError("comment.created", "missing")
    customer = author.get("accountType") == "customer" or _same_user(author, fields.get("reporter"))
    return {"customer_replied_at": at} if customer else {"agent_replied_at": at}


def parse_jira(body: bytes, *, source: str = "jira", mapping: SourceMapping | None = None,
               received_at: datetime | None = None, event_id: str | None = None
               ) -> ParsedEvent:
    """Parse a Jira webhook body. Raises :class:`TicketError` naming the field,
    :class:`IgnoredEvent` for events oncall does not track."""
    mapping = mapping or default_mapping(source)
    data = load_json(body)
    event = data.get("webhookEvent")
    if event is not None and not isinstance(event, str):
        raise TicketError("webhookEvent", "expected text")
    if event is not None and event not in TRACKED_EVENTS:
        raise IgnoredEvent(f"webhookEvent {event[:100]!r} is not tracked")
    issue = obj(data, "issue", "")
    fields = obj(issue, "fields", "issue.")
    replied = _comment_reply(data, fields)
    if event == COMMENT_CREATED and not replied:
        raise IgnoredEvent("webhookEvent 'comment_created': an internal comment cannot change a paging "
                           "decision or a response clock")
    key = text(issue.get("key"), "issue.key", required=True, limit=200)
    priority_obj = fields.get("priority")
    raw_priority = (text(priority_obj.get("name"), "issue.fields.priority.name", limit=200)
                    if isinstance(priority_obj, dict)
                    else text(priority_obj, "issue.fields.priority", limit=200))
    priority_text = _classic(translated(mapping, "priority", raw_priority))
    priority, _ = read_value("priority", priority_text)
    created = timestamp(fields.get("created"), "issue.fields.created") or received_at
    if created is None:
        raise TicketError("issue.fields.created", "missing")
    reporter = fields.get("reporter")
    requester = (text(reporter.get("emailAddress"), "issue.fields.reporter.emailAddress",
                      limit=500) if isinstance(reporter, dict) else None)
    labels = strings(fields.get("labels"), "issue.fields.labels")
    organization = scalar(fields.get("organizations"))  # present when a field is named so
    facts = VendorFacts(priority=priority, organization=organization,
                        organization_tags=labels, requester=requester, tags=labels,
                        custom_fields={k: v for k, v in fields.items()
                                       if k.startswith("customfield_")})
    payload: dict[str, Any] = {
        "id": key,
        "source": source,
        "subject": text(fields.get("summary"), "issue.fields.summary") or "",
        "priority": priority_text,
        "status": _status(fields, mapping),
        "created_at": created,
        "updated_at": timestamp(fields.get("updated"), "issue.fields.updated"),
        "requester": requester,
        "tags": labels,
        "jira_event": event or "jira:issue_updated",
        **mapped_fields(mapping, facts),
        **replied,
    }
    changes = _changes(data)
    if changes:
        payload["changes"] = changes
    ticket = build_ticket(payload, where="issue.")
    return parsed(ticket, event_id, data)


def verify_request(secret: str, body: bytes, headers: Mapping[str, str], *, now: datetime) -> None:
    del now  # Jira signs no timestamp
    verify_jira(secret, body, headers.get(JIRA_HEADER))


def sign_request(secret: str, body: bytes, *, now: datetime) -> dict[str, str]:
    del now
    return {JIRA_HEADER: sign_jira(secret, body)}


HELPDESK = register(HelpdeskKind(
    name="jira", docs=f"Jira Service Management issue webhooks, signed in {JIRA_HEADER}",
    parse=parse_jira, verify_signature=verify_request, sign=sign_request, event_id_header=EVENT_ID_HEADER))
