"""What oncall answers to an inbound SMS: parse the reply, act, say what happened."""

from __future__ import annotations

from datetime import datetime

import structlog

from oncall.errors import OncallError
from oncall.interfaces import InboundHandler
from oncall.notify.gsm7 import fit, to_gsm7
from oncall.notify.messages import help_text, not_understood_text, unknown_number_text
from oncall.notify.privacy import mask_phone
from oncall.notify.replies import ReplyKind, parse_reply

log = structlog.get_logger(__name__)
# The answer to a reply that failed for oncall's own reasons: the engineer must not go back to sleep.
NOT_PROCESSED = "oncall: your reply could NOT be processed. Try again or call the on-call lead."


def _sendable(text: str) -> str:
    converted = to_gsm7(text)
    return fit(converted, 160, gsm=True) if converted is not None else fit(text, 70, gsm=False)


def answer_sms(handler: InboundHandler, phone: str, body: str, now: datetime) -> str | None:
    """Carry out the reply ``body`` from ``phone``; return the answer text, or None for
    no answer (after STOP the carrier blocks us and sends its own confirmation)."""
    reply = parse_reply(body)
    person: str | None = None
    try:
        person = handler.person_for_phone(phone)
        log.info("twilio.sms_received", phone=mask_phone(phone), person=person,
                 kind=str(reply.kind), code=reply.code)
        if person is None:
            if reply.kind in (ReplyKind.STOP, ReplyKind.START):
                return None
            return unknown_number_text()
        match reply.kind:
            case ReplyKind.STOP:
                handler.set_sms_blocked(person, True, now)
                log.warning("twilio.sms_opt_out", person=person, phone=mask_phone(phone))
                return None
            case ReplyKind.START:
                handler.set_sms_blocked(person, False, now)
                return f"oncall: SMS pages to {person} are back on."
            case ReplyKind.HELP:
                return help_text()
            case ReplyKind.UNKNOWN:
                return not_understood_text()
            case ReplyKind.ACK_ALL:
                return _sendable(handler.ack_all(person, now))
            case ReplyKind.ACK:
                return _sendable(handler.ack(person, reply.code, now))
            case ReplyKind.ESCALATE:
                return _sendable(handler.escalate(person, reply.code, now))
            case ReplyKind.RESOLVE:
                return _sendable(handler.resolve(person, reply.code, now))
    except OncallError as exc:
        log.info("twilio.reply_refused", person=person, kind=str(reply.kind), reason=str(exc))
        return _sendable(str(exc))
    except Exception:
        # The engineer must learn that the ack did not land, or they will go back to sleep.
        log.exception("twilio.reply_failed", person=person, kind=str(reply.kind))
        return NOT_PROCESSED
    return None  # pragma: no cover - every ReplyKind is matched above
