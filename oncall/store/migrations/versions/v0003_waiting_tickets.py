"""Waiting tickets: those that did not page while their desk was closed, for its hand-over.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "waiting_tickets",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("ticket_id", sa.String(200), primary_key=True),
        sa.Column("desk", sa.String(100), nullable=False),
        sa.Column("priority", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(40)),
        sa.Column("customer", sa.String(200)),
        sa.Column("subject", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("rule", sa.String(200)),
        _ts("respond_by"),
        _ts("handover_at", False),
        sa.Column("page_policy", sa.String(200)),
        _ts("received_at", False),
        _ts("updated_at", False),
        _ts("handed_over_at"),
    )
    op.create_index("ix_waiting_tickets_due", "waiting_tickets", ["handed_over_at", "handover_at"])


def downgrade() -> None:
    op.drop_table("waiting_tickets")
