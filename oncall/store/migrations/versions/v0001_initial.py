"""Initial schema: inbox, cursors, incidents, notification ledger, audit.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

OPEN = "state IN ('triggered', 'acknowledged')"


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("ticket_id", sa.String(200), nullable=False),
        sa.Column("event_key", sa.String(200), nullable=False),
        _ts("received_at", False),
        sa.Column("ticket_json", sa.JSON, nullable=False),
        _ts("processed_at"),
        sa.Column("outcome", sa.Text),
        sa.UniqueConstraint("source", "event_key", name="uq_ticket_events_source_key"),
    )
    op.create_index("ix_ticket_events_unprocessed", "ticket_events", ["processed_at", "id"])
    op.create_index("ix_ticket_events_ticket", "ticket_events", ["source", "ticket_id", "id"])
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        _ts("updated_at", False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("ticket_id", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("policy_id", sa.String(200), nullable=False),
        sa.Column("policy_json", sa.JSON, nullable=False),
        sa.Column("engine_state", sa.JSON, nullable=False),
        sa.Column("round", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("step", sa.Integer, nullable=False, server_default=sa.text("-1")),
        _ts("next_action_at"),
        sa.Column("acknowledged_by", sa.String(200)),
        _ts("acknowledged_at"),
        _ts("created_at", False),
        _ts("updated_at", False),
        _ts("resolved_at"),
        sa.Column("priority", sa.String(40), nullable=False, server_default=""),
        sa.Column("customer", sa.String(200)),
        sa.Column("subject", sa.Text, nullable=False, server_default=""),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    )
    op.create_index("uq_incidents_open_ticket", "incidents", ["source", "ticket_id"],
                    unique=True, sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.create_index("ix_incidents_next_action_at", "incidents", ["next_action_at"])
    op.create_index("ix_incidents_state", "incidents", ["state"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("person_id", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False, server_default="page"),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("message_key", sa.String(100)),
        sa.Column("provider_id", sa.String(100)),
        sa.Column("error_code", sa.String(40)),
        sa.Column("resend_of", sa.Integer, sa.ForeignKey("notifications.id")),
        sa.Column("short_code", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False, server_default=""),
        _ts("not_before"),
        _ts("queued_at"),
        _ts("created_at", False),
        _ts("updated_at", False),
    )
    op.create_index("ix_notifications_status", "notifications", ["status", "not_before"])
    op.create_index("ix_notifications_person", "notifications",
                    ["person_id", "channel", "queued_at"])
    op.create_index("ix_notifications_incident", "notifications", ["incident_id"])
    op.create_index("ix_notifications_provider", "notifications", ["provider_id"])
    op.create_index("ix_notifications_message", "notifications", ["message_key"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
        _ts("at", False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(20)),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(40)),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_audit_incident", "audit", ["incident_id", "id"])


def downgrade() -> None:
    for table in ("audit", "notifications", "incidents", "cursors", "ticket_events"):
        op.drop_table(table)
