"""The schema gate and what ``/readyz`` says of this instance: a database migrated by a newer
oncall makes an older one take no work and say why."""

from __future__ import annotations

from datetime import datetime

import pytest
from daemon_rig import NY, MakeRig, Rig
from sqlalchemy import text

from oncall.daemon.gate import judge
from oncall.store.db import head_revision

NEWER = "9999"  # a revision no migration of this code has


def migrate_elsewhere(rig: Rig, revision: str) -> None:
    """What a newer oncall's migration leaves in the database."""
    with rig.daemon.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    rig.daemon.gate.refresh()


@pytest.mark.parametrize(("database", "is_open", "words"), [
    pytest.param("head", True, "schema", id="same-schema"),
    pytest.param(NEWER, False, "written by a newer oncall", id="newer-database"),
    pytest.param("0001", False, "older than this oncall's", id="older-database"),
    pytest.param(None, False, "no oncall schema", id="empty-database"),
])
def test_the_gate_opens_only_on_this_codes_schema(database: str | None, is_open: bool, words: str) -> None:
    code = head_revision()
    state = judge(code if database == "head" else database, code)
    assert (is_open, True) == (state.open, words in state.reason)


def test_after_a_newer_migration_no_duty_runs(rig: Rig) -> None:
    migrate_elsewhere(rig, NEWER)
    assert [None, None, None] == [rig.daemon.duties.run_once(name) for name in ("engine", "handoffs", "reload")]
    migrate_elsewhere(rig, head_revision())
    assert rig.daemon.duties.run_once("engine") is not None


def test_after_a_newer_migration_readyz_is_503_with_the_reason_and_webhooks_are_refused(rig: Rig) -> None:
    migrate_elsewhere(rig, NEWER)
    ready = rig.request("GET", "/readyz")
    assert 503 == ready.status_code
    schema = ready.json()["checks"]["schema"]
    assert (False, True) == (schema["ok"], f"schema {NEWER}, written by a newer oncall" in schema["detail"])
    assert {"open": False, "database": NEWER, "code": head_revision()} == {
        k: ready.json()["instance"]["schema"][k] for k in ("open", "database", "code")}
    assert 503 == rig.request("POST", "/webhooks/tickets/generic", content=b"{}").status_code


def test_readyz_names_the_instance_its_role_and_the_leases_it_holds(make_rig: MakeRig) -> None:
    rig = make_rig(datetime(2026, 11, 30, 7, 30, tzinfo=NY))
    assert rig.daemon.duties.run_once("handoffs") is not None
    body = rig.request("GET", "/readyz").json()
    instance = body["instance"]
    assert (rig.daemon.instance_id, "all") == (instance["id"], instance["role"])
    [lease] = instance["leases"]
    assert ("handoffs", 1) == (lease["name"], lease["token"])
    assert 0 < lease["expires_in"] <= 15 * 3 / 4
    assert (True, True) == (instance["schema"]["open"], body["checks"]["schema"]["ok"])
    assert {"messages": 0} == instance["claims"]
    _host, pid, tag = rig.daemon.instance_id.split(":")
    assert (True, 6) == (pid.isdigit(), len(tag))


def test_metrics_show_the_leases_held_and_taken(make_rig: MakeRig) -> None:
    rig = make_rig(datetime(2026, 11, 30, 7, 30, tzinfo=NY))
    rig.daemon.duties.run_once("handoffs")
    scrape = rig.request("GET", "/metrics").text
    assert 'oncall_leases_held{name="handoffs"} 1.0' in scrape
    assert 'oncall_lease_acquisitions_total{name="handoffs"} 1.0' in scrape
    assert 'oncall_lease_losses_total' in scrape
    assert 'oncall_messages_claimed 0.0' in scrape


def test_readyz_and_metrics_count_the_messages_this_instance_holds_a_sending_claim_on(rig: Rig) -> None:
    from sqlalchemy import update

    from oncall.store.tables import notifications

    rig.file("T-1")
    rig.work()
    with rig.daemon.engine.begin() as conn:
        conn.execute(update(notifications).values(status="sending", claimed_by=f"{rig.daemon.instance_id}/4242"))
    assert {"messages": 1} == rig.request("GET", "/readyz").json()["instance"]["claims"]
    assert "oncall_messages_claimed 1.0" in rig.request("GET", "/metrics").text
