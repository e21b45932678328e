"""Twilio answering 500, 429 or not answering for a stretch: the daemon stays up,
/readyz says the transport is failing while it is, and every incident still gets a
page through, with no message sent twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from support.reliab_daemon import (
    DaemonSpec,
    ZygoteLauncher,
    free_port,
    poll_until,
    post_ticket,
    stop,
    ticket_body,
    wait_ready,
)
from support.reliab_ledger import SENT, check_sends, check_steps, check_tickets, read_ledger, reader, twilio_keys

from oncall.testing.fake_twilio import FailureStatus, FakeTwilio
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN

TICKETS = ["OUT-1", "OUT-2"]


def _readyz(url: str) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(url + "/readyz", timeout=5.0)
    return answer.status_code, answer.json()


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize(("failure", "count", "hold", "unhealthy"), [
    (500, 12, 5.0, True),   # four pages fail after their retries: an outage
    (429, 12, 5.0, True),
    ("timeout", 2, 6.0, False),  # held past the transport's 5 s timeout, twice
], ids=["http500", "http429", "timeout"])
def test_twilio_failing_for_a_stretch(failure: FailureStatus, count: int, hold: float,
                                      unhealthy: bool, launcher: ZygoteLauncher,
                                      fast_config: Path, tmp_path: Path) -> None:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, hold_seconds=hold) as fake, \
            httpx.Client(timeout=10.0) as client:
        spec = DaemonSpec(config=fast_config, db_url=f"sqlite:///{tmp_path / 'oncall.db'}",
                          port=free_port(), twilio_base=fake.base_url)
        proc = launcher.start(spec.env(), tmp_path / "daemon.log")
        wait_ready(spec.base_url, proc)
        fake.fail_next(count, status=failure)
        assert [202, 202] == [post_ticket(client, spec.base_url, ticket_body(t)) for t in TICKETS]
        seen_failing: list[dict[str, Any]] = []

        def outage_over() -> bool:
            status, body = _readyz(spec.base_url)
            if status == 503 and not body["checks"]["transport"]["ok"]:
                seen_failing.append(body)
            failed = [r for r in fake.requests if r.outcome != "201"]
            return len(failed) >= count and len(fake.messages) + len(fake.calls) >= 2

        assert poll_until(outage_over, 60.0)
        read = reader(spec.db_url)
        try:
            def every_incident_paged() -> bool:
                ledger = read_ledger(read)
                return len(ledger.incidents) == 2 and all(
                    any(r.status == SENT for r in ledger.rows_for(i.id)) for i in ledger.incidents)

            assert poll_until(every_incident_paged, 30.0)
            assert proc.exit_code() is None, "the daemon died during the Twilio outage"
            assert poll_until(lambda: _readyz(spec.base_url)[0] == 200, 30.0)
            assert _readyz(spec.base_url)[1]["checks"]["transport"]["ok"]
            assert 0 == stop(proc)
            ledger = read_ledger(read)
        finally:
            read.dispose()
        sent = twilio_keys([*fake.messages, *fake.calls])
        assert [] == check_tickets(ledger, TICKETS) + check_steps(ledger) + check_sends(ledger, sent)
        assert any(r.status == "failed" for r in ledger.rows), "no page failed: nothing was tested"
        if unhealthy:
            assert seen_failing, "/readyz never reported the failing transport"
            assert "failing" in seen_failing[0]["checks"]["transport"]["detail"]
