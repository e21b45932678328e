"""State the singleton duties shared through memory, now in the database so every instance
sees it: public replies waiting to be posted (queued by whichever instance decided the ticket,
posted by the write-back lease holder, one per ticket and kind), and each source's last
authenticated webhook and last successful poll (read by the silence monitor).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "public_replies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("ticket_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        _ts("queued_at", False),
        _ts("next_attempt_at"),
        _ts("updated_at", False),
        _ts("posted_at"),
        sa.UniqueConstraint("source", "ticket_id", "kind", name="uq_public_replies_ticket_kind"),
    )
    op.create_index("ix_public_replies_due", "public_replies", ["status", "next_attempt_at"])
    op.create_table(
        "source_activity",
        sa.Column("source", sa.String(100), primary_key=True),
        _ts("last_webhook"),
        _ts("last_poll"),
        _ts("updated_at", False),
    )


def downgrade() -> None:
    op.drop_table("source_activity")
    op.drop_table("public_replies")
