"""Web console: overrides made on the web, sign-in codes and login links.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "stored_overrides",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("schedule", sa.String(100), nullable=False),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("replaces", sa.String(100)),
        _ts("starts_at", False),
        _ts("ends_at", False),
        sa.Column("reason", sa.Text),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at", False),
        sa.Column("removed_by", sa.String(200)),
        _ts("removed_at"),
    )
    op.create_index("ix_stored_overrides_live", "stored_overrides", ["removed_at", "ends_at"])
    op.create_table(
        "console_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("person_id", sa.String(200), nullable=False),
        _ts("created_at", False),
        _ts("expires_at", False),
        _ts("used_at"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    op.create_index("ix_console_tokens_person", "console_tokens", ["person_id", "kind", "expires_at"])


def downgrade() -> None:
    op.drop_table("console_tokens")
    op.drop_table("stored_overrides")
