"""When each ticket source was last heard from, in the ``source_activity`` table: the last
authenticated webhook and the last successful poll, whichever instance or process heard it.

Webhooks reach any instance and a poll runs on the instance holding the poller's lease, while
the silence monitor runs on the one holding ``silence`` (and ``/readyz`` and ``/metrics`` are
asked of each): they all read this table. Each instant only moves forward, so writers racing
(or a late write of an older instant) never take it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine, case, select
from sqlalchemy.dialects import postgresql, sqlite

from oncall.store.tables import source_activity

Via = Literal["webhook", "poll"]


@dataclass(frozen=True, kw_only=True)
class Heard:
    source: str
    last_webhook: datetime | None
    last_poll: datetime | None


class SourceActivity:
    """Raises ``SQLAlchemyError`` when the database fails."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = postgresql if engine.dialect.name == "postgresql" else sqlite

    def record(self, source: str, via: Via, at: datetime) -> None:
        """``source`` was heard from ``via`` at ``at`` (kept only if later than what is stored)."""
        column = "last_webhook" if via == "webhook" else "last_poll"
        insert = self._dialect.insert(source_activity).values({"source": source, column: at, "updated_at": at})
        stored, new = source_activity.c[column], insert.excluded[column]
        statement = insert.on_conflict_do_update(
            index_elements=[source_activity.c.source],
            set_={column: case((stored.is_(None) | (stored < new), new), else_=stored), "updated_at": new})
        with self.engine.begin() as conn:
            conn.execute(statement)

    def read(self) -> dict[str, Heard]:
        """Every source's instants, by source name."""
        t = source_activity.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.source, t.last_webhook, t.last_poll)).all()
        return {r.source: Heard(source=r.source, last_webhook=r.last_webhook, last_poll=r.last_poll) for r in rows}
