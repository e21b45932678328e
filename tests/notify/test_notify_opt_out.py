"""Twilio's code for a recipient who texted STOP stays in the Twilio transport: a send refused
for it raises AddressOptedOut, and a status callback carrying it reaches the inbound handler as
``opted_out`` — the one outcome the runner, the incident service and admin alerts read."""

from __future__ import annotations

import pytest

from oncall.errors import AddressOptedOut, PermanentDeliveryError
from oncall.interfaces import Channel, Outbound
from oncall.notify.retry import RetryPolicy
from oncall.notify.settings import TwilioSettings
from oncall.notify.twilio_transport import TwilioTransport
from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.twilio_doubles import ALICE, Daemon

STOPPED = 21610  # Twilio: "Attempt to send to unsubscribed recipient"


def sms(key: str = "row-1") -> Outbound:
    return Outbound(key=key, channel=Channel.SMS, to=ALICE, person_id="alice", incident_ids=(1,),
                    text="URGENT #1 acme: down")


@pytest.fixture
def paging(daemon: Daemon, twilio_settings: TwilioSettings, retry: RetryPolicy) -> TwilioTransport:
    """A transport whose callbacks point at the test daemon."""
    return TwilioTransport(twilio_settings, daemon.url, retry=retry)


@pytest.mark.parametrize(("code", "opted_out"), [(STOPPED, True), (21211, False), (21614, False)])
def test_a_send_refused_because_the_recipient_texted_stop_is_address_opted_out(
        paging: TwilioTransport, fake_twilio: FakeTwilio, code: int, opted_out: bool) -> None:
    fake_twilio.fail_number(ALICE, status=400, code=code)
    with pytest.raises(PermanentDeliveryError) as info:
        paging.send(sms())
    assert (opted_out, code) == (isinstance(info.value, AddressOptedOut), info.value.code)


@pytest.mark.parametrize(("code", "opted_out"), [(STOPPED, True), (30003, False)])
def test_a_status_callback_saying_stop_reaches_the_handler_as_opted_out(
        paging: TwilioTransport, fake_twilio: FakeTwilio, daemon: Daemon, code: int,
        opted_out: bool) -> None:
    paging.send(sms(key="row-9"))
    [message] = fake_twilio.messages
    assert 200 == fake_twilio.send_status(message, "undelivered", error_code=code).status_code
    assert opted_out == (("opted_out", "row-9", None, daemon.clock.now()) in daemon.handler.calls)
    assert code == daemon.handler.statuses[-1]["error_code"]  # still there, for the metrics
