"""Twilio's calls into oncall: SMS replies, keypresses, delivery status callbacks.

Every request must carry a valid ``X-Twilio-Signature`` computed over
``public_url`` + path + query string (what Twilio was told to call) and the POST
parameters; anything else gets 403 and changes nothing. The routes translate
requests into calls on an :class:`~oncall.interfaces.InboundHandler` (the daemon adapts the
incident service to it) and answer with TwiML.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, quote

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MultiDict
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from oncall.errors import OncallError
from oncall.http_input import InputError, read_body
from oncall.interfaces import InboundHandler, Now
from oncall.notify.privacy import mask_phone
from oncall.notify.ratecap import ReplyCap
from oncall.notify.sms_dialogue import answer_sms
from oncall.notify.status import machine_answered, normalise_status

log = structlog.get_logger(__name__)

TWIML = "text/xml"
# Twilio's form posts are a few kilobytes (an SMS body is at most 1,600 characters);
# anything larger is not Twilio and is refused before it is buffered or verified.
MAX_FORM_BODY = 64 * 1024
VOICEMAIL_TEXT = "This is oncall with an urgent page. Please check your text messages."


def _twiml(body: str, status_code: int = 200) -> Response:
    return Response(body, status_code=status_code, media_type=TWIML)


def _sms_twiml(text: str | None) -> Response:
    response = MessagingResponse()
    if text:
        response.message(text)
    return _twiml(str(response))


def twilio_routes(handler: InboundHandler, *, auth_token: str, public_url: str, clock: Now,
                  reply_cap: ReplyCap | None = None,
                  on_rejected: Callable[[str, str], None] | None = None) -> list[Route]:
    """``POST /twilio/sms``, ``/twilio/voice/gather``, ``/twilio/voice/answer``,
    ``/twilio/status``. ``clock`` returns the current aware datetime; ``on_rejected(path,
    reason)`` is told of every refused request (for the metrics)."""
    validator = RequestValidator(auth_token)
    base = public_url.rstrip("/")
    cap = reply_cap or ReplyCap()

    async def verified(request: Request) -> MultiDict | Response:
        try:
            body = (await read_body(request, MAX_FORM_BODY)).decode("utf-8", errors="replace")
        except InputError as exc:
            return Response(exc.message, status_code=exc.status)
        params = MultiDict(parse_qsl(body, keep_blank_values=True))
        query = request.scope.get("query_string", b"").decode("latin-1")
        url = base + request.url.path + (f"?{query}" if query else "")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not validator.validate(url, params, signature):
            log.warning("twilio.signature_rejected", path=request.url.path,
                        signed=bool(signature), client=request.client.host
                        if request.client else None)
            if on_rejected is not None:
                on_rejected(request.url.path, "signature")
            return Response("forbidden", status_code=403)
        return params

    async def sms(request: Request) -> Response:
        params = await verified(request)
        if isinstance(params, Response):
            return params
        phone, body, now = params.get("From", ""), params.get("Body", ""), clock()
        text = await run_in_threadpool(answer_sms, handler, phone, body, now)
        if text is not None and not cap.allow(phone, now):
            log.warning("twilio.reply_capped", phone=mask_phone(phone))
            text = None
        return _sms_twiml(text)

    async def gather(request: Request) -> Response:
        params = await verified(request)
        if isinstance(params, Response):
            return params
        key, digits = request.query_params.get("key", ""), params.get("Digits", "")
        response = VoiceResponse()
        if not key:
            response.say("This call cannot be matched to a page.")
        elif digits in ("4", "5"):
            action = handler.ack_page if digits == "4" else handler.escalate_page
            try:
                response.say(await run_in_threadpool(action, key, clock()))
            except Exception as exc:  # the caller must hear something
                log.error("twilio.keypress_failed", key=key, digits=digits, error=str(exc))
                response.say(_spoken_error(exc))
        else:
            if digits != "*":
                response.say("Sorry, that key does nothing.")
            script = await run_in_threadpool(handler.voice_script, key)
            _gather_script(response, base, key, script)
            return _twiml(str(response))
        response.hangup()
        return _twiml(str(response))

    async def answer(request: Request) -> Response:
        params = await verified(request)
        if isinstance(params, Response):
            return params
        key = request.query_params.get("key", "")
        response = VoiceResponse()
        if machine_answered(params.get("AnsweredBy")):
            response.say(VOICEMAIL_TEXT)
            response.hangup()
            return _twiml(str(response))
        script = await run_in_threadpool(handler.voice_script, key) if key else None
        _gather_script(response, base, key, script)
        return _twiml(str(response))

    async def status(request: Request) -> Response:
        params = await verified(request)
        if isinstance(params, Response):
            return params
        key = request.query_params.get("key")
        update = normalise_status(params)
        if not key or update is None:
            log.warning("twilio.status_unmatched", has_key=bool(key))
            return _twiml(str(MessagingResponse()))
        log.info("twilio.status", key=key, sid=update.provider_id, status=update.status,
                 raw=update.raw_status, error_code=update.error_code,
                 answered_by=update.answered_by)
        await run_in_threadpool(lambda: handler.delivery_status(
            key=key, provider_id=update.provider_id, status=update.status,
            error_code=update.error_code, answered_by=update.answered_by, now=clock(),
            opted_out=update.opted_out))
        return _twiml(str(MessagingResponse()))

    return [
        Route("/twilio/sms", sms, methods=["POST"]),
        Route("/twilio/voice/gather", gather, methods=["POST"]),
        Route("/twilio/voice/answer", answer, methods=["POST"]),
        Route("/twilio/status", status, methods=["POST"]),
    ]


def _gather_script(response: VoiceResponse, base: str, key: str, script: str | None) -> None:
    text = script or "Press 4 to acknowledge, 5 to escalate, star to repeat."
    gather = response.gather(num_digits=1, method="POST", timeout=5,
                             action=f"{base}/twilio/voice/gather?key={quote(key, safe='')}")
    gather.say(text, loop=3)
    response.say("No key pressed. Goodbye.")
    response.hangup()


def _spoken_error(exc: Exception) -> str:
    if isinstance(exc, OncallError):
        return str(exc)
    return "Sorry, oncall could not record that. Please reply by text message."
