"""Issue 7.9 end to end: ``oncall run`` on a temporary configuration with a fake Twilio —
tickets over HTTP, acknowledgement through a signed webhook, SIGHUP with a good and a bad
edit, SIGTERM — and the start-up banner."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_process import API_TOKEN, PHONES, DaemonProcess, assert_nothing_secret_logged, ticket, wait_until

from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.twilio_doubles import AUTH_TOKEN, FROM_NUMBER

pytestmark = pytest.mark.e2e

HANK = """\
  - id: hank
    name: Hank Hill
    timezone: America/New_York
    phone: "+12025550146"
    contact_methods: [sms]
schedules:"""


def events(daemon: DaemonProcess, name: str) -> list[dict[str, Any]]:
    """The web process's events (its worker child's say ``"process": "worker"``: it reloads too)."""
    return [e for e in daemon.log_events() if e.get("event") == name and e.get("process") != "worker"]


def ack_as(daemon: DaemonProcess, incident_id: int, person: str) -> httpx.Response:
    return httpx.post(f"{daemon.url}/api/incidents/{incident_id}/ack", json={"as": person}, timeout=10.0,
                      headers={"Authorization": f"Bearer {API_TOKEN}"})


def incident_for(daemon: DaemonProcess, ticket_id: str) -> dict[str, Any] | None:
    return next((i for i in daemon.incidents() if i["ticket_id"] == ticket_id), None)


def test_run_reload_and_stop(daemon: DaemonProcess, fake: FakeTwilio, config_dir: Path) -> None:
    daemon.start()
    people = config_dir / "oncall.yaml"
    good = people.read_text()

    # Tickets over HTTP; acknowledgement through a signed Twilio webhook.
    assert 202 == daemon.post_ticket(ticket("T-1", "fast")).status_code
    assert 202 == daemon.post_ticket(ticket("T-2", "slow")).status_code
    messages = fake.wait_for_messages(2, timeout=10)
    first = next(m for m in messages if "T-1" in m.body)
    reply = fake.send_sms_reply(daemon.url, from_=first.to, to=FROM_NUMBER, body="1a")
    assert 200 == reply.status_code and "acknowledged" in reply.text
    assert "acknowledged" == wait_until("T-1's incident", lambda: incident_for(daemon, "T-1"))["state"]
    t2 = wait_until("T-2's incident", lambda: incident_for(daemon, "T-2"))
    assert ack_as(daemon, t2["id"], "hank").status_code in (404, 409, 422)  # nobody called hank yet

    # SIGHUP with a good edit: hank exists from now on.
    people.write_text(good.replace("schedules:", HANK, 1))
    daemon.signal(signal.SIGHUP)
    [reloaded] = wait_until("config.reloaded", lambda: events(daemon, "config.reloaded"))
    assert (4, "SIGHUP") == (reloaded["people"], reloaded["why"])
    done = ack_as(daemon, t2["id"], "hank")
    assert (200, "hank") == (done.status_code, done.json()["acknowledged_by"])

    # SIGHUP with a bad edit: refused with the exact error, the daemon keeps running on the old one.
    people.write_text(good.replace("[{person: gina}]", "[{person: nobody}]"))
    daemon.signal(signal.SIGHUP)
    [refused] = wait_until("config.reload_refused", lambda: events(daemon, "config.reload_refused"))
    errors = " ".join(refused["errors"])
    assert "oncall.yaml" in errors and "nobody" in errors
    checked = daemon.cli("check")
    assert 1 == checked.returncode
    assert any(line.strip() in errors for line in checked.stderr.splitlines() if "nobody" in line)
    assert 200 == httpx.get(daemon.url + "/healthz", timeout=5).status_code
    ready = httpx.get(daemon.url + "/readyz", timeout=5)
    assert 200 == ready.status_code and "refused" in ready.json()["checks"]["configuration"]["detail"]
    assert 1.0 == daemon.metric("oncall_reload_failures_total")
    wait_until("the admin alert", lambda: [m for m in fake.messages
                                           if m.to == PHONES["gina"] and "refused" in m.body])
    # Still answering tickets with the previous configuration (hank still known).
    assert 202 == daemon.post_ticket(ticket("T-3", "slow")).status_code
    t3 = wait_until("T-3's incident", lambda: incident_for(daemon, "T-3"))
    assert 200 == ack_as(daemon, t3["id"], "hank").status_code

    # SIGTERM right after a ticket was accepted: exit 0 within 10 s, and nothing accepted is lost.
    assert 202 == daemon.post_ticket(ticket("T-4", "slow")).status_code
    started = time.monotonic()
    assert 0 == daemon.stop(timeout=10)
    assert time.monotonic() - started < 10
    assert events(daemon, "daemon.stopped")
    people.write_text(good)  # a bad configuration would (rightly) refuse to start
    daemon.start()
    wait_until("T-4's incident", lambda: incident_for(daemon, "T-4"))
    wait_until("every stored ticket processed", lambda: daemon.unprocessed_events() == 0)
    assert 0 == daemon.stop()
    assert_nothing_secret_logged(daemon)


def test_banner_and_insecure_source_warning(daemon: DaemonProcess, config_dir: Path) -> None:
    """Console logs: the text banner on stdout (JSON logs have an "oncall started" event instead)."""
    daemon.env.pop("ONCALL_SOURCES__GENERIC__SECRET")
    daemon.start(ONCALL_SOURCES__GENERIC__INSECURE="true", ONCALL_LOG_FORMAT="console")
    banner = wait_until("the banner", lambda: "listening" in daemon.stdout and daemon.stdout)
    # The insecure source takes unsigned tickets.
    unsigned = httpx.post(daemon.url + "/webhooks/tickets/generic", content=ticket("T-9", "quiet"), timeout=10)
    assert 202 == unsigned.status_code
    assert 0 == daemon.stop()
    listen = daemon.env["ONCALL_LISTEN"]
    for expected in (f"configuration : {config_dir}", "database      : sqlite:///", "oncall.db",
                     "transport     : twilio", f"listening     : http://{listen}", "schedules     : emergency"):
        assert expected in banner
    [warning] = [line for line in banner.splitlines() if "generic" in line and "WARNING" in line]
    assert "UNAUTHENTICATED" in warning
    for secret in (API_TOKEN, AUTH_TOKEN):
        assert secret not in daemon.stdout + daemon.stderr


def test_bad_configuration_refuses_to_start(daemon: DaemonProcess, config_dir: Path) -> None:
    (config_dir / "oncall.yaml").write_text("people: [")
    daemon.start(ready=False)
    assert daemon.proc is not None
    assert 1 == daemon.proc.wait(30)
    assert "oncall.yaml" in daemon.stderr and "Traceback" not in daemon.stderr
