"""Logging with structlog: JSON lines off a terminal (journald-friendly), colour on one.

Privacy is enforced here, once, for every log line (ours and third-party libraries'
through the stdlib bridge): phone numbers are masked (``+1******0199``) and secret
values are replaced, by key and by pattern. Redaction runs again after exceptions are
rendered, because an exception message (a Twilio error, a validation error) can quote
a phone number too; tracebacks never carry local variables.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Mapping, MutableMapping
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any, TextIO

import structlog
from pydantic import BaseModel, SecretBytes, SecretStr

from oncall.notify.privacy import mask_phone

MASK = "**********"
SECRET_KEYS = frozenset({
    "auth_token", "token", "secret", "password", "passwd", "api_key", "apikey", "api_token",
    "authorization", "cookie", "x-twilio-signature", "x-oncall-signature", "signature",
    "x-hub-signature", "x-hub-signature-256", "x-zendesk-webhook-signature",
})
# Keys such as ``twilio_auth_token`` or ``smtp_password`` are secrets too.
_SECRET_SUFFIXES = ("_token", "_secret", "password", "_api_key", "_signature")
PHONE_KEYS = frozenset({
    "to", "from", "from_", "phone", "number", "caller", "called", "sms", "voice",
    "from_number", "to_number", "phone_number", "mobile",
})

# Phone numbers inside free text. A '+' is required (E.164 as Twilio writes it, possibly
# with single separators: "+1 415-555-0199") so that timestamps, ticket ids ("T-1001") and
# bare numeric ids ("12345678901") are left alone. "%2B" is a URL-encoded '+', as in the
# query strings twilio's http_client logs.
_PHONE_RE = re.compile(r"(?<![\w+%])(?:\+|%2[bB])\d(?:[ ().-]{0,2}\d){7,14}(?!\d)")
_MASKED_RE = re.compile(r"\+?\d?\*+\d{0,4}")  # mask_phone's output, left as it is
# "auth_token=abc", "'password': 'x'", '"secret": "x"', "Authorization: Basic abc=".
_SECRET_RE = re.compile(
    r"(?i)(?P<key>\b(?:[\w-]*?(?:auth_?token|password|passwd|secret|api_?key|api_?token|signature)"
    r"|token|authorization|cookie)\b)"
    r"(?P<sep>[\"']?\s*[=:]\s*[\"']?)"
    r"(?P<scheme>(?:basic|bearer|token)\s+)?"
    r"(?P<value>[^\s&\"',;}]+)"
)


def _is_secret_key(lowered: str) -> bool:
    return lowered in SECRET_KEYS or lowered.endswith(_SECRET_SUFFIXES)


def _scrub_text(text: str) -> str:
    text = _SECRET_RE.sub(lambda m: f"{m['key']}{m['sep']}{m['scheme'] or ''}{MASK}", text)
    return _PHONE_RE.sub(lambda m: _mask_match(m.group(0)), text)


def _mask_match(token: str) -> str:
    if token[:3].lower() == "%2b":
        return "%2B" + mask_phone(token[3:]).lstrip("+")
    return mask_phone(token)


def _scrub(value: Any, key: str = "") -> Any:
    lowered = key.lower()
    if isinstance(value, (SecretStr, SecretBytes)):
        return MASK
    if _is_secret_key(lowered) and value not in (None, "", False):
        return MASK
    if isinstance(value, str):
        if lowered in PHONE_KEYS:
            return value if _MASKED_RE.fullmatch(value) else mask_phone(value)
        return _scrub_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_scrub(v, key) for v in value]
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return _scrub(value.value, key)
    if isinstance(value, BaseModel):
        # mode="json" renders SecretStr fields as "**********" already.
        return _scrub(value.model_dump(mode="json"), key)
    # Anything else would reach the renderer as repr(); scrub that text instead.
    return _scrub_text(str(value))


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask phone numbers and secrets in every field."""
    for k in list(event_dict):
        if k in ("exc_info", "_record", "_from_structlog"):
            continue  # consumed later by the exception renderer / ProcessorFormatter
        event_dict[k] = _scrub(event_dict[k], k)
    return event_dict


def _redact_exception(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Second pass over the rendered exception only (its message may quote a number)."""
    if "exception" in event_dict:
        event_dict["exception"] = _scrub(event_dict["exception"], "exception")
    return event_dict


def _drop_color_message(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """uvicorn passes a copy of each message with ANSI colour codes as ``extra``: drop it
    (a JSON pipeline must never see escape sequences; the plain message is ``event``)."""
    event_dict.pop("color_message", None)
    return event_dict


_OWN_HANDLERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_renders_json = False


def renders_json() -> bool:
    """Whether the last :func:`configure` chose JSON lines. Then everything the process
    writes must be a JSON log line too: no banner, no printed pages."""
    return _renders_json


class _OncallHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler configure() installed, so a second call replaces it."""


def configure(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog and route stdlib logging (uvicorn, twilio, apscheduler) through it.

    ``fmt`` is "json", "console" or "auto" (JSON unless ``stream`` is a terminal). Safe to
    call repeatedly: the handler from a previous call is replaced, never duplicated.
    """
    global _renders_json
    if fmt not in ("auto", "json", "console"):
        raise ValueError(f"unknown log format {fmt!r} (expected auto, json or console)")
    out = stream if stream is not None else sys.stderr
    tty = bool(getattr(out, "isatty", lambda: False)())
    use_json = fmt == "json" or (fmt == "auto" and not tty)
    _renders_json = use_json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        # log.info("paging %s", number): interpolate before redaction sees the text.
        structlog.stdlib.PositionalArgumentsFormatter(),
        redact,
    ]
    final: list[Any]
    if use_json:
        exc = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        final = [exc, _redact_exception, structlog.processors.JSONRenderer()]
    else:
        # A plain text traceback (no locals, unlike rich's), redacted like everything else.
        final = [structlog.processors.format_exc_info, _redact_exception,
                 structlog.dev.ConsoleRenderer(colors=tty)]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = _OncallHandler(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    ))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OncallHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The warnings module writes straight to stderr; as log records they are JSON lines too.
    logging.captureWarnings(True)
    # uvicorn's default log_config gives its loggers their own handlers (propagate=False),
    # which would print around the redaction: send them to ours. The daemon must also pass
    # log_config=None to uvicorn.Config, which otherwise reinstalls them when it starts.
    # Their levels too: uvicorn.Config(log_level=...) sets them, and the operator's
    # ONCALL_LOG_LEVEL is the one that counts.
    for name in _OWN_HANDLERS:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
        library.setLevel(logging.NOTSET)
        library.disabled = False
    # Chatty libraries stay at WARNING unless the operator asked for debug output.
    noisy_level = logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING
    for noisy in ("apscheduler", "twilio.http_client", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(noisy_level)


def capture_uncaught() -> None:
    """Log exceptions nobody caught (main thread, other threads, ``__del__``) as one record
    each, instead of Python's multi-line text on stderr. For ``oncall run`` only: these
    hooks are process-wide."""
    crash = logging.getLogger("oncall.crash")

    def main_thread(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        crash.critical("uncaught exception", exc_info=(kind, value, tb))

    def other_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        crash.critical("uncaught exception in thread", exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
                       extra={"thread_name": args.thread.name if args.thread else None})

    def unraisable(args: Any) -> None:
        info = (args.exc_type, args.exc_value, args.exc_traceback) if args.exc_value is not None else None
        crash.error(args.err_msg or "exception ignored", exc_info=info,
                    extra={"object": repr(args.object)[:200]})

    sys.excepthook = main_thread
    threading.excepthook = other_thread
    sys.unraisablehook = unraisable


def get(name: str = "oncall") -> Any:
    return structlog.stdlib.get_logger(name)
