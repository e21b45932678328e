"""The database locked by another process for longer than the daemon's busy timeout:
webhooks answer 503 with Retry-After (never 500), nothing answered 202 is lost, the
daemon stays up, and everything proceeds once the lock is released."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from support.reliab_daemon import (
    SECRET,
    DaemonSpec,
    ZygoteLauncher,
    free_port,
    poll_until,
    post_ticket,
    stop,
    ticket_body,
    wait_ready,
)
from support.reliab_ledger import SENT, check_sends, check_tickets, read_ledger, reader, twilio_keys

from oncall.sources.signatures import GENERIC_HEADER, sign_generic
from oncall.store.db import SQLITE_BUSY_TIMEOUT_MS
from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN

HOLD_SECONDS = SQLITE_BUSY_TIMEOUT_MS / 1000 + 2.5
LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def _post(client: httpx.Client, url: str, body: bytes) -> httpx.Response | str:
    try:
        return client.post(url + "/webhooks/tickets/generic", content=body, headers={
            GENERIC_HEADER: sign_generic(SECRET, body), "Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        return f"no answer: {exc!r}"


@pytest.mark.slow
@pytest.mark.e2e
def test_database_locked_answers_503_and_recovers(launcher: ZygoteLauncher, fast_config: Path,
                                                 tmp_path: Path) -> None:
    db = tmp_path / "oncall.db"
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake, httpx.Client(timeout=30.0) as client:
        spec = DaemonSpec(config=fast_config, db_url=f"sqlite:///{db}", port=free_port(),
                          twilio_base=fake.base_url)
        proc = launcher.start(spec.env(), tmp_path / "daemon.log")
        wait_ready(spec.base_url, proc)
        assert 202 == post_ticket(client, spec.base_url, ticket_body("LOCK-0"))
        fake.wait_for_messages(1, timeout=10)

        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(db), str(HOLD_SECONDS)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert locker.stdout is not None
            assert "locked" == locker.stdout.readline().strip()
            tickets = ["LOCK-1", "LOCK-2", "LOCK-3"]
            with ThreadPoolExecutor(3) as pool:
                answers = list(pool.map(lambda t: _post(client, spec.base_url, ticket_body(t)),
                                        tickets))
            readyz = client.get(spec.base_url + "/readyz")
        finally:
            locker.wait(HOLD_SECONDS + 10)
            locker.stdout.close() if locker.stdout else None
        codes = [a.status_code if isinstance(a, httpx.Response) else a for a in answers]
        assert set(codes) <= {202, 503}, codes
        assert 503 in codes, f"the lock outlasted the busy timeout, yet {codes}"
        for a in answers:
            if isinstance(a, httpx.Response) and a.status_code == 503:
                assert a.headers.get("Retry-After")
                assert "retry" in a.json()["error"]
        assert readyz.status_code in (200, 503)  # never a 500
        assert proc.exit_code() is None, "the daemon died while the database was locked"

        # The helpdesk retries what got 503; everything goes through now.
        for t, code in zip(tickets, codes, strict=True):
            if code != 202:
                assert 202 == post_ticket(client, spec.base_url, ticket_body(t))
        read = reader(spec.db_url)
        try:
            def all_paged() -> bool:
                ledger = read_ledger(read)
                return len(ledger.incidents) == 4 and all(
                    any(r.status == SENT for r in ledger.rows_for(i.id)) for i in ledger.incidents)

            assert poll_until(all_paged, 30.0)
            assert 200 == client.get(spec.base_url + "/readyz").status_code
            assert 0 == stop(proc)
            ledger = read_ledger(read)
        finally:
            read.dispose()
        sent = twilio_keys([*fake.messages, *fake.calls])
        assert [] == check_tickets(ledger, ["LOCK-0", *tickets]) + check_sends(ledger, sent)
