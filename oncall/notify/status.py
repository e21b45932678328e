"""Twilio status callbacks (messages and calls) reduced to what the engine needs.

Twilio's error codes stay here and in the transport: a callback saying the recipient texted
STOP is reported as ``opted_out``, the outcome the transport raises as ``AddressOptedOut``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from oncall.notify.twilio_transport import opted_out
from oncall.numbers import ascii_int

# The statuses after which nothing more will happen to a message or call.
FINAL_STATUSES = frozenset({"delivered", "read", "failed", "undelivered", "no-answer", "busy",
                            "completed", "canceled"})
# Outcomes that mean "this contact method did not reach the person: try the next one".
NOT_REACHED = frozenset({"failed", "undelivered", "no-answer", "busy", "canceled"})


@dataclass(frozen=True, kw_only=True)
class StatusUpdate:
    provider_id: str | None
    channel: str  # "sms" or "voice"
    status: str  # normalised, see normalise_status
    raw_status: str
    error_code: int | None
    answered_by: str | None
    opted_out: bool = False  # the recipient texted STOP (the error code says so)


def machine_answered(answered_by: str | None) -> bool:
    """AnsweredBy values that are not a person: machine_start, machine_end_*, fax."""
    return bool(answered_by) and (answered_by or "").startswith(("machine", "fax"))


def normalise_status(params: Mapping[str, str]) -> StatusUpdate | None:
    """The update in a status callback's POST parameters, None if it is not one.

    A call that "completed" but was answered by a voicemail or fax machine is
    reported as ``no-answer``: a greeting is not a person who heard the page.
    """
    if params.get("MessageStatus") or params.get("SmsStatus"):
        raw = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
        sid = params.get("MessageSid") or params.get("SmsSid")
        channel = "sms"
        answered_by = None
        status = raw
    elif params.get("CallStatus"):
        raw = (params.get("CallStatus") or "").lower()
        sid = params.get("CallSid")
        channel = "voice"
        answered_by = params.get("AnsweredBy") or None
        status = "no-answer" if raw == "completed" and machine_answered(answered_by) else raw
    else:
        return None
    code_text = params.get("ErrorCode") or ""
    error_code = ascii_int(code_text, max_digits=9)
    return StatusUpdate(provider_id=sid or None, channel=channel, status=status, raw_status=raw,
                        error_code=error_code, answered_by=answered_by, opted_out=opted_out(error_code))
