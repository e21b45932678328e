"""The incident API and its CLI commands (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import typer
from sqlalchemy import Connection, Engine, text
from support.databases import scratch_postgres_database
from support.harness import Paging
from support.reliab_daemon import poll_until
from typer.testing import CliRunner

from oncall.errors import IncidentError
from oncall.incidents import repo
from oncall.incidents.cli import register
from oncall.incidents.model import TicketSummary, mask_address
from oncall.store.db import make_engine, upgrade

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def ticket(n: int = 1) -> TicketSummary:
    return TicketSummary(source="generic", ticket_id=f"T-{n}", priority="urgent",
                         customer="acme", subject="Checkout failing")


@pytest.fixture
def p(db: Engine) -> Paging:
    return Paging(db)


def test_open_is_idempotent_and_calls_on_change(p: Paging) -> None:
    calls: list[int] = []
    p.service.on_change = lambda: calls.append(1)
    a = p.service.open_or_update(ticket(), "primary", T0)
    b = p.service.open_or_update(ticket(), "primary", T0 + MIN)
    assert a.id == b.id and a.state.value == "triggered"
    assert [1] == calls  # nothing changed the second time


def test_unknown_policy_is_refused(p: Paging) -> None:
    with pytest.raises(IncidentError, match="unknown escalation policy 'nope'"):
        p.service.open_or_update(ticket(), "nope", T0)


def test_resolved_ticket_can_open_a_new_incident(p: Paging) -> None:
    a = p.service.open_or_update(ticket(), "primary", T0)
    p.service.resolve(a.id, "ann", T0 + MIN)
    b = p.service.open_or_update(ticket(), "primary", T0 + 2 * MIN)
    assert a.id != b.id


@pytest.mark.parametrize(("call", "message"), [
    (lambda s, i: s.ack(i + 99, "ann", T0), "no incident #"),
    (lambda s, i: s.ack(i, "mallory", T0), "unknown person 'mallory'"),
    (lambda s, i: s.resolve(i, "nobody", T0), "unknown person"),
])
def test_bad_ids_and_actors_are_refused(p: Paging, call: object, message: str) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    with pytest.raises(IncidentError, match=message):
        call(p.service, inc.id)  # type: ignore[operator]


def test_invalid_transitions_are_refused_with_clear_messages(p: Paging) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    p.service.ack(inc.id, "ann", T0)
    with pytest.raises(IncidentError, match="already acknowledged by ann"):
        p.service.ack(inc.id, "bob", T0)
    p.service.resolve(inc.id, "ann", T0 + MIN)
    with pytest.raises(IncidentError, match=r"cannot escalate incident #\d+: it is resolved"):
        p.service.escalate(inc.id, "ann", T0)
    with pytest.raises(IncidentError, match="cannot resolve"):
        p.service.resolve(inc.id, "ann", T0)


def test_cancel_for_ticket_cancels_only_unacknowledged(p: Paging) -> None:
    a = p.service.open_or_update(ticket(1), "primary", T0)
    b = p.service.open_or_update(ticket(2), "primary", T0)
    p.service.ack(b.id, "ann", T0)
    cancelled = p.service.cancel_for_ticket("generic", "T-1", "ticket solved", T0 + MIN)
    kept = p.service.cancel_for_ticket("generic", "T-2", "ticket solved", T0 + MIN)
    assert cancelled is not None and "cancelled" == cancelled.state.value
    assert cancelled.resolved_at == T0 + MIN
    assert kept is not None and "acknowledged" == kept.state.value
    assert p.service.cancel_for_ticket("generic", "T-9", "x", T0) is None
    assert "cancelled" == p.service.get(a.id).state.value


def test_audit_records_transitions_and_attempts(p: Paging) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    p.service.ack(inc.id, "ann", T0 + MIN, via="sms")
    kinds = [(e.kind, e.actor, e.channel) for e in p.service.audit(inc.id)]
    assert ("triggered", "ticket", None) == kinds[0]
    assert ("notification", "ann", "sms") in kinds
    assert ("acknowledged", "ann", "sms") == kinds[-1]
    with pytest.raises(IncidentError):
        p.service.audit(999)


def test_list_open_only(p: Paging) -> None:
    a = p.service.open_or_update(ticket(1), "primary", T0)
    b = p.service.open_or_update(ticket(2), "primary", T0)
    p.service.resolve(a.id, "ann", T0)
    assert [b.id] == [i.id for i in p.service.list(open_only=True)]
    assert [a.id, b.id] == [i.id for i in p.service.list()]


def test_addresses_are_masked_in_the_ledger_view(p: Paging) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    shown = p.service.ledger(inc.id)[0].address
    assert p.directory.contacts["ann"].phone not in shown
    assert "+1555…" in shown
    assert "a…@example.com" == mask_address("ann@example.com")


# ---- CLI ------------------------------------------------------------------------------


def cli(p: Paging) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """oncall (test app)."""

    register(app, lambda: p.service)
    return app


def test_cli_incidents_json_has_contract_keys(p: Paging) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    p.service.ack(inc.id, "ann", T0)
    result = CliRunner().invoke(cli(p), ["incidents", "--open", "--json"])
    assert 0 == result.exit_code, result.output
    row = json.loads(result.output)[0]
    assert {"id": inc.id, "source": "generic", "ticket_id": "T-1", "state": "acknowledged",
            "acknowledged_by": "ann", "created_at": T0.isoformat()} == {
        k: row[k] for k in ("id", "source", "ticket_id", "state", "acknowledged_by",
                            "created_at")}


def test_cli_show_prints_the_audit_log(p: Paging) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    result = CliRunner().invoke(cli(p), ["incidents", "show", str(inc.id)])
    assert 0 == result.exit_code, result.output
    assert "triggered" in result.output and "step_fired" in result.output
    assert p.directory.contacts["ann"].phone not in result.output


def test_cli_ack_escalate_resolve_record_the_actor(p: Paging) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    runner = CliRunner()
    for verb, state in (("ack", "acknowledged"), ("escalate", "triggered"),
                        ("resolve", "resolved")):
        result = runner.invoke(cli(p), [verb, str(inc.id), "--as", "bob"])
        assert 0 == result.exit_code, result.output
        assert state in result.output
    done = {e.kind: e.actor for e in p.service.audit(inc.id)}
    assert ("bob", "bob", "bob") == (done["acknowledged"], done["escalated"], done["resolved"])
    assert p.service.get(inc.id).acknowledged_by is None  # escalated by hand: nobody owned it after


@pytest.mark.parametrize(("args", "message"), [
    (["ack", "999", "--as", "ann"], "no incident #999"),
    (["ack", "1", "--as", "mallory"],
     "unknown person 'mallory': actors are people from the configuration (use --as PERSON)"),
    (["incidents", "show", "42"], "no incident #42"),
])
def test_cli_errors_go_to_stderr_without_traceback(p: Paging, args: list[str],
                                                   message: str) -> None:
    p.service.open_or_update(ticket(), "primary", T0)
    result = CliRunner().invoke(cli(p), args)
    assert 1 == result.exit_code
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, IncidentError)


def test_stale_writer_loses_to_an_acknowledgement(p: Paging) -> None:
    """Optimistic locking: a runner that read before the ack cannot overwrite it."""
    from oncall.escalation.engine import step
    from oncall.incidents import repo

    inc = p.service.open_or_update(ticket(), "primary", T0)
    stale = p.service.get(inc.id)
    p.service.ack(inc.id, "ann", T0)
    paged, _ = step(stale.engine, p.directory.policies["primary"], p.directory, T0)
    with p.engine.begin() as conn:
        assert not repo.save_state(conn, inc.id, stale.version, paged, T0)
    assert "acknowledged" == p.service.get(inc.id).state.value
    p.runner.run_due(T0)
    assert [] == p.transport.sent


def test_an_acknowledged_incident_escalated_by_hand_names_no_acknowledger(p: Paging) -> None:
    """Back to triggered, nobody owns it: the API, the CLI and the console must not go on
    showing the acknowledgement (the audit log keeps it)."""
    inc = p.service.open_or_update(ticket(), "primary", T0)
    p.service.ack(inc.id, "ann", T0)
    assert "ann" == p.service.get(inc.id).acknowledged_by
    again = p.service.escalate(inc.id, "ann", T0 + MIN)
    assert "triggered" == again.state.value
    assert (None, None) == (again.acknowledged_by, again.acknowledged_at)
    assert ["ann"] == [e.actor for e in p.service.audit(inc.id) if e.kind == "acknowledged"]


@pytest.mark.postgres
def test_an_acknowledgement_whose_session_the_server_ended_is_retried_and_recorded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The web process froze in the middle of an acknowledgement for longer than the idle bound
    (ONCALL_FAILOVER_SECONDS): PostgreSQL ended its session, which gave the incident's lock
    back. On waking, the acknowledgement is written again on a new connection — the engineer's
    reply is not answered "could not be processed" for a freeze of the instance."""
    with scratch_postgres_database() as url:
        engine = make_engine(url, idle_limit=timedelta(milliseconds=300))
        upgrade(engine)
        watcher = make_engine(url)
        try:
            p = Paging(engine)
            inc = p.service.open_or_update(ticket(), "primary", T0)
            writes, ended = repo.write_audit, []

            def frozen_once(conn: Connection, *args: Any, **kwargs: Any) -> None:
                if not ended:  # the process stops here, its acknowledgement half written
                    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
                    ended.append(poll_until(lambda: _gone(watcher, pid), timeout=10))
                writes(conn, *args, **kwargs)

            monkeypatch.setattr(repo, "write_audit", frozen_once)
            acked = p.service.ack(inc.id, "ann", T0 + MIN, via="sms")
            assert [True] == ended, "the server ended the frozen session"
            assert ("acknowledged", "ann") == (acked.state.value, acked.acknowledged_by)
            assert ["acknowledged"] == [e.kind for e in p.service.audit(inc.id) if e.kind == "acknowledged"]
        finally:
            engine.dispose()
            watcher.dispose()


def _gone(watcher: Engine, pid: int) -> bool:
    with watcher.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar() == 0
