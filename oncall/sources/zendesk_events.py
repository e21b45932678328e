"""Zendesk event webhooks: ``zen:event-type:ticket.*`` bodies (pure).

Besides trigger webhooks (a body the admin writes, :mod:`oncall.sources.zendesk`), Zendesk
sends webhooks *subscribed to events*, signed the same way (``X-Zendesk-Webhook-Signature``)
and posted to the same endpoint. Their shape, from Zendesk's reference ("Webhook event types",
developer.zendesk.com/api-reference/webhooks/event-types/webhook-event-types/, and "Ticket
events", …/event-types/ticket-events/)::

    {"type": "zen:event-type:ticket.priority_changed",   # zen:event-type:<domain>.<change>
     "account_id": 12514403,                              # integer
     "id": "2b24ef10-19d4-4740-93cf-8f98ec4776c0",        # the event's id
     "time": "2026-11-28T08:00:03Z",
     "zendesk_event_version": "2022-11-06",
     "subject": "zen:ticket:35436",
     "detail": {"id": "35436", "subject": "Checkout down", "priority": "URGENT", "status": "OPEN",
                "custom_status": "360001234", "requester_id": "601", "organization_id": "360001",
                "assignee_id": null, "group_id": "98738", "brand_id": "1", "form_id": "…",
                "submitter_id": "601", "actor_id": "601", "tags": ["cust_acme"], "type": "INCIDENT",
                "is_public": true, "description": "…", "external_id": null,
                "created_at": "2026-11-28T07:58:10Z", "updated_at": "2026-11-28T08:00:03Z",
                "via": {"channel": "web"}},
     "event": {"current": "URGENT", "previous": "NORMAL", "meta": {"sequence": {…}}}}

Ids arrive as strings; statuses and priorities in upper case; ``detail`` is a snapshot of the
whole ticket in every event, so each stored event is read on its own (the lifecycle compares it
with the last one). What the detail does **not** carry:

* names — ``organization_id``, ``requester_id`` and ``custom_status`` are ids. The event is
  stored as it came (intake never waits for Zendesk); the ids are turned into names when the
  ticket is decided, through the Zendesk API when credentials are configured
  (:mod:`oncall.sources.zendesk_lookup`, cached), otherwise through ``value_maps``
  (``customer: {"360001": acme}``, ``status: {"360001234": pending}``). Each ticket records how
  in its ``lookups`` extra, which ``explain`` and the incident's audit log repeat
  ("organization 360001 resolved via Zendesk API → Acme", "… via value_maps.customer → acme",
  "… unresolved (why)"). An explicit ``value_maps`` entry for an id wins over the API's name.
* custom field values — ``custom_field:`` mapping rules find nothing in event webhooks (use the
  trigger webhook or the poller for them). The ``status`` is the custom status's category, so
  a custom status never hides a ticket; its label is looked up for the notes only.

Event types: ticket events that can change a paging decision (created, status, custom status,
priority, organisation, requester, tags, custom field, undeleted, and types Zendesk adds later)
are stored. Deleted, spam and merged tickets are read as *closed*, which stops their paging.
A public comment (``ticket.comment_added``, ``event.comment.is_public``) is stored for the
response clocks: by an agent (``event.comment.author.is_staff``, else an author who is not the
requester) it is support's reply, by the requester the customer writing again. Events that
cannot change a decision (private comments, attachments, followers, CCs, satisfaction, SLA,
subject, assignment…) and non-ticket domains (users, organisations…) are acknowledged
(``202 ignored``) and not stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from oncall.errors import TicketError
from oncall.sources.mapping import VendorFacts, mapped_fields, mapped_priority, translated
from oncall.sources.payload import IgnoredEvent, ParsedEvent, build_ticket, obj, parsed, strings, text, timestamp
from oncall.sources.settings import SourceMapping, default_mapping
from oncall.tickets import Status, Ticket, lookup_record

EVENT_PREFIX = "zen:event-type:"
TICKET_PREFIX = EVENT_PREFIX + "ticket."
EXTRA = "zendesk_event"  # the ids an event named, kept with the stored ticket for lookups

# ticket.<change> that cannot change whether (or whom) to page: acknowledged, not stored
UNTRACKED = frozenset({
    "comment_made_private", "comment_redacted",
    "attachment_linked_to_comment", "attachment_redacted_from_comment",
    "csat_received", "csat_requested", "followers_changed", "email_ccs_changed",
    "description_changed", "subject_changed", "external_id_changed", "brand_changed",
    "form_changed", "type_changed", "problem_link_changed", "submitter_changed",
    "agent_assignment_changed", "group_assignment_changed", "task_due_at_changed",
    "sla_policy_changed", "ola_policy_changed", "schedule_changed", "next_sla_breach_changed",
})
# the ticket left the queue: nobody should be woken for it any more
GONE = frozenset({"soft_deleted", "permanently_deleted", "marked_as_spam", "merged"})

NO_CREDENTIALS = "no Zendesk API credentials configured"
NOT_YET = "not looked up yet: names are looked up when the ticket is decided"


def is_event(data: Mapping[str, Any]) -> bool:
    """Whether a Zendesk webhook body is an event subscription's (not a trigger's)."""
    kind = data.get("type")
    return isinstance(kind, str) and kind.startswith(EVENT_PREFIX) and "ticket" not in data


def _ref(value: object, field: str) -> str | None:
    """A Zendesk id (string or number); empty, null and ``"0"`` mean none."""
    ref = text(value, field, limit=40)
    return None if ref in (None, "0") else ref


def refs(ticket: Ticket) -> dict[str, str | None]:
    """The ids a stored event ticket named (empty for other tickets)."""
    found = ticket.extras.get(EXTRA)
    if not isinstance(found, dict):
        return {}
    return {k: (str(v) if v is not None else None) for k, v in found.items()
            if k in ("organization_id", "requester_id", "custom_status_id")}


def _mapped_id(mapping: SourceMapping, field: str, ref: str | None) -> str | None:
    return mapping.value_maps.get(field, {}).get(ref.lower()) if ref else None


def parse_zendesk_event(data: Mapping[str, Any], *, source: str = "zendesk",
                        mapping: SourceMapping | None = None, received_at: datetime | None = None,
                        event_id: str | None = None) -> ParsedEvent:
    """Read one event webhook body (already JSON). Raises :class:`TicketError` naming the field,
    :class:`IgnoredEvent` for events that cannot change a paging decision."""
    mapping = mapping or default_mapping(source)
    kind = str(data["type"])
    if not kind.startswith(TICKET_PREFIX):
        raise IgnoredEvent(f"Zendesk event {kind[:100]!r} is not about a ticket")
    change = kind.removeprefix(TICKET_PREFIX)
    if change in UNTRACKED:
        raise IgnoredEvent(f"Zendesk event {kind[:100]!r} cannot change a paging decision")
    detail = obj(data, "detail", "")
    replied = _public_reply(data, detail) if change == "comment_added" else {}
    ticket_id = text(detail.get("id"), "detail.id", limit=200)
    subject_ref = data.get("subject")
    if ticket_id is None and isinstance(subject_ref, str) and subject_ref.startswith("zen:ticket:"):
        ticket_id = text(subject_ref.removeprefix("zen:ticket:"), "subject", limit=200)
    if ticket_id is None:
        raise TicketError("detail.id", "missing")
    custom_status = _ref(detail.get("custom_status"), "detail.custom_status")
    status: str | Status | None
    if change in GONE:
        status = Status.CLOSED
    else:
        status = (_mapped_id(mapping, "status", custom_status)
                  or translated(mapping, "status", text(detail.get("status"), "detail.status",
                                                        required=True, limit=200)))
    created = timestamp(detail.get("created_at"), "detail.created_at") or received_at
    if created is None:
        raise TicketError("detail.created_at", "missing")
    updated = (timestamp(detail.get("updated_at"), "detail.updated_at")
               or timestamp(data.get("time"), "time"))
    _, priority_text = mapped_priority(mapping, text(detail.get("priority"), "detail.priority"))
    tags = strings(detail.get("tags"), "detail.tags")
    ids = {"organization_id": _ref(detail.get("organization_id"), "detail.organization_id"),
           "requester_id": _ref(detail.get("requester_id"), "detail.requester_id"),
           "custom_status_id": custom_status}
    payload: dict[str, Any] = {
        "id": ticket_id, "source": source, "priority": priority_text, "status": status,
        "subject": text(detail.get("subject"), "detail.subject") or "",
        "created_at": created, "updated_at": updated, "tags": tags,
        EXTRA: {"type": change, **ids}, **replied,
    }
    ticket = with_names(build_ticket(payload), mapping, Names(), reason=NOT_YET)
    return parsed(ticket, data.get("id") if event_id is None else event_id, data)


def _public_reply(data: Mapping[str, Any], detail: Mapping[str, Any]) -> dict[str, Any]:
    """A public comment, for the response clocks: by an agent (``agent_replied_at``) or by the
    requester (``customer_replied_at``), at the event's time. The author is staff when Zendesk
    says so (``author.is_staff``), else when it is not the ticket's requester. A private comment
    is ignored."""
    event = data.get("event")
    comment = event.get("comment") if isinstance(event, Mapping) else None
    if not isinstance(comment, Mapping) or comment.get("is_public") is not True:
        raise IgnoredEvent("Zendesk event 'ticket.comment_added': a private comment cannot change a paging "
                           "decision or a response clock")
    given = comment.get("author")
    author: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    staff = author.get("is_staff")
    if not isinstance(staff, bool):
        requester = _ref(detail.get("requester_id"), "detail.requester_id")
        staff = _ref(author.get("id"), "event.comment.author.id") != requester
    at = timestamp(data.get("time"), "time", required=True)
    return {"agent_replied_at": at} if staff else {"customer_replied_at": at}


class Names:
    """What the Zendesk API said about the ids of one event (``None``: not looked up / failed)."""

    def __init__(self, *, organization: Mapping[str, Any] | None = None,
                 requester: Mapping[str, Any] | None = None,
                 custom_status: Mapping[str, Any] | None = None,
                 errors: Mapping[str, str] | None = None) -> None:
        self.organization = organization
        self.requester = requester
        self.custom_status = custom_status
        self.errors = dict(errors or {})


def _name(found: Mapping[str, Any] | None, key: str) -> str | None:
    value = found.get(key) if found is not None else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def with_names(ticket: Ticket, mapping: SourceMapping, names: Names, *, reason: str) -> Ticket:
    """The event ticket with customer and requester filled in from ``names`` (the API's answers)
    or ``value_maps``, the other mapped fields (severity, category, environment) from its tags
    and priority, and its ``lookups`` record saying how (pure).

    ``reason`` says why an id the API did not answer for is unresolved (no credentials, the
    API is down…); ``names.errors`` may give a reason per id kind.
    """
    ids = refs(ticket)
    if not ids:
        return ticket
    records: list[dict[str, Any]] = []
    organization: str | None = None
    org_tags: tuple[str, ...] = ()
    org_id = ids.get("organization_id")
    if org_id:
        by_map = _mapped_id(mapping, "customer", org_id)
        by_api = _name(names.organization, "name")
        if by_map:
            organization = org_id  # value_maps.customer translates it below
            records.append(lookup_record("organization", org_id, via="value_maps.customer", value=by_map))
        elif by_api:
            organization = by_api
            tags = names.organization.get("tags") if names.organization else None
            org_tags = tuple(str(t) for t in tags) if isinstance(tags, list) else ()
            records.append(lookup_record("organization", org_id, via="Zendesk API", value=by_api))
        else:
            why = names.errors.get("organization", reason)
            records.append(lookup_record("organization", org_id, via=None, value=None,
                                         reason=f"{why}; add value_maps.customer to map the id"))
    requester: str | None = None
    user_id = ids.get("requester_id")
    if user_id:
        requester = _name(names.requester, "email")
        if requester:
            records.append(lookup_record("requester", user_id, via="Zendesk API", value=requester))
        else:
            records.append(lookup_record("requester", user_id, via=None, value=None,
                                         reason=names.errors.get("requester", reason)))
    status_id = ids.get("custom_status_id")
    if status_id:
        by_map = _mapped_id(mapping, "status", status_id)
        label = _name(names.custom_status, "agent_label")
        if by_map:
            records.append(lookup_record("custom status", status_id, via="value_maps.status", value=by_map))
        elif label:
            category = _name(names.custom_status, "status_category") or str(ticket.status)
            records.append(lookup_record(
                "custom status", status_id, via="Zendesk API", value=label,
                reason=f"category {category}; read as status {ticket.status} unless value_maps.status "
                       "maps the id"))
        else:
            records.append(lookup_record(
                "custom status", status_id, via=None, value=None,
                reason=f"{names.errors.get('custom_status', reason)}; read as status {ticket.status}"))
    facts = VendorFacts(priority=ticket.priority, organization=organization,
                        organization_tags=org_tags + ticket.tags, requester=requester, tags=ticket.tags)
    data = ticket.to_json()
    data.update(mapped_fields(mapping, facts), requester=requester, lookups=records)
    return build_ticket(data)
