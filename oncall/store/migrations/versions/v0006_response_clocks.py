"""Response clocks: each open ticket's first- or next-response clock, warnings and misses.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "response_clocks",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("ticket_id", sa.String(200), primary_key=True),
        sa.Column("desk", sa.String(100), nullable=False),
        sa.Column("priority", sa.String(40), nullable=False),
        sa.Column("customer", sa.String(200)),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        _ts("started_at", False),
        sa.Column("target", sa.String(200)),
        _ts("warn_at"),
        _ts("due_at"),
        sa.Column("warn_after_hours", sa.String(200)),
        _ts("responded_at"),
        _ts("warned_at"),
        _ts("missed_at"),
    )
    op.create_index("ix_response_clocks_running", "response_clocks", ["responded_at", "warn_at"])


def downgrade() -> None:
    op.drop_table("response_clocks")
