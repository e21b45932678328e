"""``oncall test-page PERSON [--voice]``: send a harmless page and report the answer."""

from __future__ import annotations

import secrets

from oncall.errors import DeliveryError, PermanentDeliveryError
from oncall.interfaces import Channel, Outbound, Transport
from oncall.notify.privacy import mask_address

TEST_SMS = "oncall test page for {person}. No action needed; nothing is on fire."
TEST_CALL = ("This is a test call from oncall for {person}. No action is needed. "
             "Press 4 to try acknowledging.")


def test_page(transport: Transport, *, person_id: str, phone: str, voice: bool = False) -> str:
    """Send a test SMS (and with ``voice`` a call) to ``phone``; describe what happened.

    Never raises for delivery problems: the description says what the provider said.
    """
    channels = [Channel.SMS] + ([Channel.VOICE] if voice else [])
    lines = []
    for channel in channels:
        message = Outbound(key=f"test-{secrets.token_hex(6)}", channel=channel, to=phone,
                           person_id=person_id, incident_ids=(),
                           text=(TEST_CALL if channel is Channel.VOICE else TEST_SMS)
                           .format(person=person_id))
        where = f"{channel} to {person_id} <{mask_address(phone)}> via {transport.name}"
        try:
            result = transport.send(message)
        except PermanentDeliveryError as exc:
            code = f" (code {exc.code})" if exc.code is not None else ""
            lines.append(f"{where}: REFUSED{code}: {exc}")
        except DeliveryError as exc:
            lines.append(f"{where}: FAILED: {exc}")
        else:
            lines.append(f"{where}: {result.status}, id {result.provider_id}")
    return "\n".join(lines)


test_page.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
