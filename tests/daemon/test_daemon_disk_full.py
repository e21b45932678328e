"""The database's disk fills up: a clear refusal (503, so helpdesks retry), no crash, nothing
already accepted lost, and recovery as soon as there is room again.

SQLite's ``max_page_count`` makes the real "database or disk is full" error (SQLITE_FULL)
without filling a real disk."""

from __future__ import annotations

import json
from typing import Any

from daemon_rig import MakeRig, Rig
from sqlalchemy import event, text

from oncall.sources.signatures import sign_generic

BIG = "x" * 9_000  # a long subject: a few of these need new database pages


def post(rig: Rig, ticket_id: str, subject: str = "Production down") -> tuple[int, Any]:
    body = json.dumps({"id": ticket_id, "source": "generic", "subject": subject, "priority": "urgent",
                       "status": "new", "created_at": rig.clock.now().isoformat(), "customer": "acme"}).encode()
    response = rig.request("POST", "/webhooks/tickets/generic", content=body,
                           headers={"X-Oncall-Signature": sign_generic("s3cret", body),
                                    "Content-Type": "application/json"})
    return response.status_code, response.json()


def fill_disk(rig: Rig) -> dict[str, int]:
    """From now on every new connection may not grow the database file."""
    with rig.daemon.engine.connect() as conn:
        pages = int(conn.execute(text("PRAGMA page_count")).scalar_one())
    limit = {"pages": pages}

    @event.listens_for(rig.daemon.engine, "connect")
    def _limit(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={limit['pages']}")

    rig.daemon.engine.dispose()
    return limit


def make_room(rig: Rig, limit: dict[str, int]) -> None:
    limit["pages"] = 1_000_000_000
    rig.daemon.engine.dispose()


def test_full_disk_refuses_with_503_then_recovers(make_rig: MakeRig) -> None:
    rig = make_rig()
    assert 202 == post(rig, "T-before")[0]  # accepted before the disk fills
    limit = fill_disk(rig)
    answers = [post(rig, f"T-full-{n}", subject=BIG) for n in range(5)]
    refused = [n for n, (status, _) in enumerate(answers) if status != 202]
    assert refused, "the database never filled up"
    assert {503} == {answers[n][0] for n in refused}
    assert all("error" in answers[n][1] for n in refused)
    make_room(rig, limit)
    for n in refused:  # the helpdesk's retries
        assert 202 == post(rig, f"T-full-{n}", subject=BIG)[0]
    rig.work()
    assert {"T-before"} | {f"T-full-{n}" for n in range(5)} == {i.ticket_id for i in rig.daemon.service.list()}
    assert [] == rig.daemon.inbox.unprocessed(10)
