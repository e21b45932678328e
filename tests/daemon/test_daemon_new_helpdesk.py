"""A helpdesk lands in one room: a kind defined only in this file and registered through the
registry gets a webhook route with its signature check, its delivery-id header, settings that
accept its name, ``oncall send-ticket`` signing, and its poller in the daemon."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import pytest
from daemon_rig import MakeRig
from pydantic import ValidationError
from typer.testing import CliRunner

from oncall.cli import app
from oncall.errors import SignatureError
from oncall.sources.payload import ParsedEvent
from oncall.sources.pollers import BasePoller
from oncall.sources.registry import HELPDESKS, HelpdeskKind, register, unregister
from oncall.sources.settings import SourceMapping, SourceSettings, startup_warnings
from oncall.testing.twilio_doubles import serve
from oncall.tickets import parse_ticket

SIGNATURE = "X-Tiny-Signature"
DELIVERY = "X-Tiny-Delivery"
SECRET = "t1ny-secret"


def tiny_ticket(ref: str, opened: str, *, source: str) -> dict[str, Any]:
    return {"ref": ref, "title": "Checkout down", "urgency": "urgent", "opened": opened, "customer": "acme",
            "source": source}


def parse_tiny(body: bytes, *, source: str, mapping: SourceMapping | None, received_at: datetime | None,
               event_id: str | None) -> ParsedEvent:
    data = json.loads(body)
    ticket = parse_ticket({"id": data["ref"], "source": source, "subject": data["title"], "status": "new",
                           "priority": data["urgency"], "created_at": data["opened"], "customer": data["customer"]})
    return ParsedEvent(ticket=ticket, event_key=event_id or f"{data['ref']}:{data['opened']}")


def _mac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_tiny(secret: str, body: bytes, headers: Mapping[str, str], *, now: datetime) -> None:
    if not hmac.compare_digest(headers.get(SIGNATURE, ""), _mac(secret, body)):
        raise SignatureError(f"{SIGNATURE} does not match the body")


def sign_tiny(secret: str, body: bytes, *, now: datetime) -> dict[str, str]:
    return {SIGNATURE: _mac(secret, body)}


class TinyPoller(BasePoller):
    """The tiny helpdesk always lists one ticket, TD-9, opened at the poll."""

    def _poll(self, now: datetime) -> bool:
        data = tiny_ticket("TD-9", now.isoformat(), source=self.source)
        self._deliver(parse_tiny(json.dumps(data).encode(), source=self.source, mapping=None,
                                 received_at=now, event_id=None).ticket, now)
        return False


TINY = HelpdeskKind(
    name="tinydesk", docs="a helpdesk that exists only in this test", parse=parse_tiny,
    verify_signature=verify_tiny, sign=sign_tiny, event_id_header=DELIVERY, poller=TinyPoller,
    poller_needs=lambda s: None if s.api_key else "tinydesk polling needs api_key")


@pytest.fixture(autouse=True)
def tinydesk() -> Iterator[HelpdeskKind]:
    register(TINY)
    yield TINY
    unregister(TINY.name)


def test_settings_take_the_new_kind_by_name_and_refuse_a_misspelt_one() -> None:
    assert "tinydesk" == SourceSettings(kind="tinydesk").kind_for("eu")
    assert "tinydesk" == SourceSettings().kind_for("TinyDesk")
    with pytest.raises(ValidationError, match=r"unknown kind 'tinydesks'.*tinydesk \(a helpdesk that exists"):
        SourceSettings(kind="tinydesks")
    assert "tinydesk" in HELPDESKS


def test_a_webhook_signed_the_new_way_is_stored_under_its_delivery_id_and_a_forged_one_refused(
        make_rig: MakeRig) -> None:
    rig = make_rig(sources={"tiny-eu": {"kind": "tinydesk", "secret": SECRET}})
    body = json.dumps(tiny_ticket("TD-1", rig.clock.now().isoformat(), source="tiny-eu")).encode()
    signed = rig.request("POST", "/webhooks/tickets/tiny-eu", content=body,
                         headers={**sign_tiny(SECRET, body, now=rig.clock.now()), DELIVERY: "d-1"})
    forged = rig.request("POST", "/webhooks/tickets/tiny-eu", content=body,
                         headers=sign_tiny("not-the-secret", body, now=rig.clock.now()))
    assert (202, "accepted", "d-1", "TD-1") == (signed.status_code, signed.json()["status"],
                                                signed.json()["event_key"], signed.json()["ticket_id"])
    assert 401 == forged.status_code and SIGNATURE in forged.json()["error"]


def test_send_ticket_signs_the_new_way(make_rig: MakeRig, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = make_rig(sources={"tinydesk": {"secret": SECRET}})
    file = rig.config.parent / "td-2.json"
    file.write_text(json.dumps(tiny_ticket("TD-2", rig.clock.now().isoformat(), source="tinydesk")))
    monkeypatch.setenv("ONCALL_SOURCES__TINYDESK__SECRET", SECRET)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    with serve(rig.daemon.build_app(), sock) as url:
        result = CliRunner().invoke(app, ["--config", str(rig.config), "send-ticket", str(file),
                                          "--source", "tinydesk", "--url", url])
    assert 0 == result.exit_code, result.output
    assert '"status":"accepted"' in result.stdout.splitlines()[-1].replace(" ", "")


def test_the_daemon_polls_the_new_kind_and_pages_for_what_it_finds(make_rig: MakeRig) -> None:
    rig = make_rig(sources={"tinydesk": {"secret": SECRET, "base_url": "https://tiny.example",
                                         "api_key": "k", "poll_interval": "1m"}})
    poller = rig.daemon.pollers["tinydesk"]
    assert isinstance(poller, TinyPoller)
    assert 1 == poller.poll_once(rig.clock.now()).tickets_accepted
    rig.work()
    [incident] = rig.daemon.service.list()
    assert ("tinydesk", "TD-9") == (incident.source, incident.ticket_id)


def test_the_start_up_banner_says_what_polling_the_new_kind_lacks() -> None:
    lines = startup_warnings({"tinydesk": SourceSettings(secret="s", base_url="https://tiny.example",
                                                         poll_interval="1m")})
    assert ["source 'tinydesk': tinydesk polling needs api_key"] == lines
