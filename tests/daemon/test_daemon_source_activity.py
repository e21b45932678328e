"""Source silence with several instances: a webhook answered by one instance, or a poll made by
another, keeps the silence monitor wherever it runs (and every instance's ``/readyz`` and
``/metrics``) from calling the source silent — what each process heard is shared through the
database, written at most every few seconds per source.

Each "instance" is a daemon over one database (an SQLite file — as ``oncall run``'s web and
worker processes share one — or a scratch PostgreSQL database) with its own clock."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

from daemon_rig import MakeRig, Rig

from oncall.sources.health import WRITE_EVERY
from oncall.sources.signatures import sign_generic
from oncall.store.source_activity import SourceActivity

SOURCES = {"generic": {"secret": "s3cret", "silence_after": "10m"}}


def instances(make_rig: MakeRig, url: str) -> tuple[Rig, Rig]:
    return make_rig(database_url=url, sources=SOURCES), make_rig(database_url=url, sources=SOURCES)


def advance(rigs: tuple[Rig, ...], delta: timedelta) -> None:
    for rig in rigs:
        rig.clock.advance(delta)


def webhook(rig: Rig, ticket_id: str = "T-1") -> None:
    body = json.dumps({"id": ticket_id, "source": "generic", "subject": "Disk full", "priority": "low",
                       "status": "new", "created_at": rig.clock.now().isoformat(), "customer": "acme"}).encode()
    response = rig.request("POST", "/webhooks/tickets/generic", content=body,
                           headers={"X-Oncall-Signature": sign_generic("s3cret", body),
                                    "Content-Type": "application/json"})
    assert 202 == response.status_code


def silence_alerts(rig: Rig) -> list[str]:
    return [m.text for m in rig.to("gina") if "silent" in m.text]


def test_a_webhook_at_one_instance_keeps_the_silence_monitor_on_another_quiet(
        database_url: str, make_rig: MakeRig) -> None:
    receiver, monitor = instances(make_rig, database_url)
    advance((receiver, monitor), timedelta(minutes=5))
    heard_at = receiver.clock.now()
    webhook(receiver)
    advance((receiver, monitor), timedelta(minutes=7))  # 12 minutes after the monitor started
    assert 0 == monitor.run("silence").done
    assert [] == silence_alerts(monitor)
    ready = monitor.request("GET", "/readyz").json()
    assert ready["checks"]["sources"]["ok"], ready
    advance((receiver, monitor), timedelta(minutes=4))  # 11 minutes after the webhook
    assert 1 == monitor.run("silence").done
    [alert] = silence_alerts(monitor)
    assert alert.endswith(f"ticket source generic has been silent since {heard_at.astimezone(UTC).isoformat()}"), alert


def test_a_poll_made_by_one_instance_is_seen_by_the_other(database_url: str, make_rig: MakeRig) -> None:
    poller, monitor = instances(make_rig, database_url)
    advance((poller, monitor), timedelta(minutes=9))
    poller.daemon.source_health.record_success("generic", poller.clock.now())
    advance((poller, monitor), timedelta(minutes=9))
    assert 0 == monitor.run("silence").done
    [status] = [s for s in monitor.daemon.source_health.snapshot() if s.source == "generic"]
    assert poller.clock.now() - timedelta(minutes=9) == status.last_success


def test_webhooks_are_stored_at_most_once_per_source_every_few_seconds(database_url: str, make_rig: MakeRig) -> None:
    receiver, _other = instances(make_rig, database_url)
    stored = SourceActivity(receiver.daemon.engine)
    first = receiver.clock.now()
    webhook(receiver, "T-1")
    receiver.clock.advance(WRITE_EVERY / 2)
    webhook(receiver, "T-2")
    assert first == stored.read()["generic"].last_webhook  # the second was not written
    assert first + WRITE_EVERY / 2 == receiver.daemon.source_health.status("generic").last_traffic
    receiver.clock.advance(WRITE_EVERY)
    webhook(receiver, "T-3")
    assert receiver.clock.now() == stored.read()["generic"].last_webhook
