"""Every table oncall keeps, in one MetaData. Migrations live in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from oncall.store.types import UTCDateTime

metadata = MetaData()

OPEN_STATES = ("triggered", "acknowledged")
_OPEN_SQL = "state IN ('triggered', 'acknowledged')"
# "The incident is open" in the words of the partial index on open tickets: SQLite uses a
# partial index only for a query that says exactly what its WHERE says (bound values do not).
IS_OPEN = text(_OPEN_SQL)

# Inbox: a ticket is stored here before the webhook answers 2xx, then processed.
ticket_events = Table(
    "ticket_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(100), nullable=False),
    Column("ticket_id", String(200), nullable=False),
    Column("event_key", String(200), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("ticket_json", JSON, nullable=False),
    Column("processed_at", UTCDateTime()),
    Column("outcome", Text),
    UniqueConstraint("source", "event_key", name="uq_ticket_events_source_key"),
    Index("ix_ticket_events_unprocessed", "processed_at", "id"),
    Index("ix_ticket_events_ticket", "source", "ticket_id", "id"),
)

cursors = Table(
    "cursors", metadata,
    Column("name", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

incidents = Table(
    "incidents", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(100), nullable=False),
    Column("ticket_id", String(200), nullable=False),
    Column("state", String(20), nullable=False),
    Column("policy_id", String(200), nullable=False),
    Column("policy_json", JSON, nullable=False),  # the policy as it was when paging began
    Column("engine_state", JSON, nullable=False),
    Column("round", Integer, nullable=False, server_default=text("0")),
    Column("step", Integer, nullable=False, server_default=text("-1")),
    Column("next_action_at", UTCDateTime()),
    Column("acknowledged_by", String(200)),
    Column("acknowledged_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime()),
    Column("priority", String(40), nullable=False, server_default=""),
    Column("customer", String(200)),
    Column("subject", Text, nullable=False, server_default=""),
    Column("version", Integer, nullable=False, server_default=text("1")),
    # At most one open incident per ticket: a partial unique index (SQLite ≥ 3.8 and
    # PostgreSQL both have them).
    Index("uq_incidents_open_ticket", "source", "ticket_id", unique=True,
          sqlite_where=text(_OPEN_SQL), postgresql_where=text(_OPEN_SQL)),
    Index("ix_incidents_next_action_at", "next_action_at"),
    Index("ix_incidents_state", "state"),
)

# The ledger: one row per incident per message; a bundled SMS is several rows sharing
# one message_key (and, once sent, one provider_id).
notifications = Table(
    "notifications", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("incidents.id"), nullable=False),
    Column("person_id", String(200), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("address", String(320), nullable=False),  # personal data: never log unmasked
    Column("status", String(20), nullable=False),
    Column("purpose", String(20), nullable=False, server_default="page"),
    Column("round", Integer, nullable=False),
    Column("step", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("message_key", String(100)),
    Column("provider_id", String(100)),
    Column("error_code", String(40)),
    Column("resend_of", Integer, ForeignKey("notifications.id")),
    Column("short_code", Integer, nullable=False),
    Column("body", Text, nullable=False, server_default=""),
    Column("not_before", UTCDateTime()),  # held by the storm limit until then
    Column("queued_at", UTCDateTime()),  # released for sending (the storm limit counts it)
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The sending claim (see escalation/runner.py): which worker holds it, its fencing token,
    # and until when, in the database's time. Past the deadline with no outcome = unknown.
    Column("claimed_by", String(100)),
    Column("claim_token", String(32)),
    Column("claim_deadline", UTCDateTime()),
    Index("ix_notifications_status", "status", "not_before"),
    Index("ix_notifications_person", "person_id", "channel", "queued_at"),
    Index("ix_notifications_incident", "incident_id"),
    Index("ix_notifications_provider", "provider_id"),
    Index("ix_notifications_message", "message_key"),
)

# Reply codes (``#3`` in a page, ``3a`` in a reply): one row per code a person has been given.
# A code belongs to an open incident, or is free (incident_id NULL) once its incident closed;
# a new incident takes the person's smallest free code, else one past the largest — two index
# look-ups, however many incidents are open.
reply_codes = Table(
    "reply_codes", metadata,
    Column("person_id", String(200), primary_key=True),
    Column("code", Integer, primary_key=True, autoincrement=False),
    Column("incident_id", Integer),
    Index("ix_reply_codes_incident", "incident_id"),
    Index("ix_reply_codes_free", "person_id", "code",
          sqlite_where=text("incident_id IS NULL"), postgresql_where=text("incident_id IS NULL")),
)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("incidents.id"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("channel", String(20)),
    Column("kind", String(40), nullable=False),
    Column("outcome", String(40)),
    Column("reason", Text),
    Index("ix_audit_incident", "incident_id", "id"),
)

# Overrides made in the web console (the configuration directory is read-only to the
# service). Never deleted: removal is recorded, so the table is also their audit trail.
stored_overrides = Table(
    "stored_overrides", metadata,
    Column("id", String(100), primary_key=True),
    Column("schedule", String(100), nullable=False),
    Column("person", String(100), nullable=False),
    Column("replaces", String(100)),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("reason", Text),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("removed_by", String(200)),
    Column("removed_at", UTCDateTime()),
    Index("ix_stored_overrides_live", "removed_at", "ends_at"),
)

# Console sign-in: one-time codes and login links, stored only as keyed digests, so they
# work across restarts and instances and a copy of the database does not reveal them.
console_tokens = Table(
    "console_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),  # code | link
    Column("person_id", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Index("ix_console_tokens_person", "person_id", "kind", "expires_at"),
)

# Tickets that did not page while their desk was closed, kept for the desk's hand-over at its
# next opening (oncall/handover). A row leaves the hand-over when the ticket is closed or pages.
waiting_tickets = Table(
    "waiting_tickets", metadata,
    Column("source", String(100), primary_key=True),
    Column("ticket_id", String(200), primary_key=True),
    Column("desk", String(100), nullable=False),
    Column("priority", String(40), nullable=False),
    Column("severity", String(40)),
    Column("customer", String(200)),
    Column("subject", Text, nullable=False, server_default=""),
    Column("status", String(40), nullable=False),  # when it was recorded: touched once it changes
    Column("reason", Text, nullable=False),  # why it did not page, in words
    Column("rule", String(200)),
    Column("respond_by", UTCDateTime()),
    Column("handover_at", UTCDateTime(), nullable=False),  # the desk's opening it waits for
    Column("page_policy", String(200)),  # page through this policy at the opening if untouched
    Column("received_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("handed_over_at", UTCDateTime()),
    Index("ix_waiting_tickets_due", "handed_over_at", "handover_at"),
)

# Named leases (store/leases.py): which instance runs each singleton duty, until when in the
# database's time, and the fencing token every write made under the lease checks.
leases = Table(
    "leases", metadata,
    Column("name", String(200), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("token", BigInteger, nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# Response clocks (oncall/response_clocks): each open ticket's running or answered first- or
# next-response clock, with its warning and due instants; the duty reads processed ticket events
# past a cursor and records warnings sent and targets missed.
response_clocks = Table(
    "response_clocks", metadata,
    Column("source", String(100), primary_key=True),
    Column("ticket_id", String(200), primary_key=True),
    Column("desk", String(100), nullable=False),
    Column("priority", String(40), nullable=False),
    Column("customer", String(200)),
    Column("kind", String(10), nullable=False),  # first | next
    Column("status", String(40), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("target", String(200)),
    Column("warn_at", UTCDateTime()),
    Column("due_at", UTCDateTime()),
    Column("warn_after_hours", String(200)),
    Column("responded_at", UTCDateTime()),
    Column("warned_at", UTCDateTime()),
    Column("missed_at", UTCDateTime()),
    Index("ix_response_clocks_running", "responded_at", "warn_at"),
)

# Public replies to the customer (oncall/writeback_feed.py), queued by whichever instance decided
# the ticket and posted by the write-back lease holder: one per ticket and kind, so a ticket
# decided again (an update, a batch re-run after a crash) is not answered twice. ``status``:
# queued (``next_attempt_at`` after a failed post) → sending (claimed under the lease, being
# posted) → posted | failed (attempts used up) | unknown (the poster died mid-post: never re-sent).
public_replies = Table(
    "public_replies", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(100), nullable=False),
    Column("ticket_id", String(200), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("text", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("queued_at", UTCDateTime(), nullable=False),
    Column("next_attempt_at", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("posted_at", UTCDateTime()),
    UniqueConstraint("source", "ticket_id", "kind", name="uq_public_replies_ticket_kind"),
    Index("ix_public_replies_due", "status", "next_attempt_at"),
)

# When each ticket source was last heard from, by any instance or process (oncall/sources/health.py):
# the last authenticated webhook and the last successful poll, each written at most every few
# seconds per process; the silence monitor reads them.
source_activity = Table(
    "source_activity", metadata,
    Column("source", String(100), primary_key=True),
    Column("last_webhook", UTCDateTime()),
    Column("last_poll", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
)
