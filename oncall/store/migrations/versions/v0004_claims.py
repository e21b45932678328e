"""Several workers on one database: sending claims with a worker, a fencing token and a
deadline; reply codes kept per person, so a new code is found without reading every open
incident.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FREE = "incident_id IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(100)))
        batch.add_column(sa.Column("claim_token", sa.String(32)))
        batch.add_column(sa.Column("claim_deadline", sa.DateTime(timezone=True)))
    op.create_table(
        "reply_codes",
        sa.Column("person_id", sa.String(200), primary_key=True),
        sa.Column("code", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("incident_id", sa.Integer),
    )
    op.create_index("ix_reply_codes_incident", "reply_codes", ["incident_id"])
    op.create_index("ix_reply_codes_free", "reply_codes", ["person_id", "code"],
                    sqlite_where=sa.text(FREE), postgresql_where=sa.text(FREE))
    _codes_from_the_ledger()


def _codes_from_the_ledger() -> None:
    """The codes in use are those of open incidents (each person's smallest per incident, as
    the runner chose them); the codes below a person's largest that no open incident holds are
    free, so the next incident gets the same code it would have got before the upgrade."""
    rows = op.get_bind().execute(sa.text(
        "SELECT n.person_id, n.incident_id, MIN(n.short_code) FROM notifications n "
        "JOIN incidents i ON i.id = n.incident_id WHERE i.state IN ('triggered', 'acknowledged') "
        "GROUP BY n.person_id, n.incident_id ORDER BY n.person_id, n.incident_id")).all()
    held: dict[str, dict[int, int]] = defaultdict(dict)
    for person, incident, code in rows:
        held[person].setdefault(int(code), int(incident))  # a code given twice by a race: the first keeps it
    table = sa.table("reply_codes", sa.column("person_id", sa.String), sa.column("code", sa.Integer),
                     sa.column("incident_id", sa.Integer))
    values = [{"person_id": person, "code": code, "incident_id": codes.get(code)}
              for person, codes in held.items() for code in range(1, max(codes) + 1)]
    if values:
        op.bulk_insert(table, values)


def downgrade() -> None:
    op.drop_table("reply_codes")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("claim_deadline")
        batch.drop_column("claim_token")
        batch.drop_column("claimed_by")
