"""Logging with structlog: JSON lines off a terminal (journald-friendly), colour on one.

Privacy is enforced here, once, for every log line (ours and third-party libraries'
through the stdlib bridge): phone numbers are masked (``+1******0199``) and secret
values are replaced, by key and by pattern.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from pydantic import SecretStr

from oncall.notify.privacy import mask_phone

SECRET_KEYS = frozenset({
    "auth_token", "token", "secret", "password", "api_key", "api_token", "authorization",
    "x-twilio-signature", "x-oncall-signature", "signature",
})
PHONE_KEYS = frozenset({"to", "from", "from_", "phone", "number", "caller", "called"})
# E.164-looking tokens inside free text: + then 8–15 digits, not part of a longer number/timestamp.
_PHONE_RE = re.compile(r"(?<![\w+])\+\d{8,15}(?!\d)")


def _scrub(value: Any, key: str = "") -> Any:
    lowered = key.lower()
    if isinstance(value, SecretStr) or (lowered in SECRET_KEYS and value not in (None, "")):
        return "**********"
    if isinstance(value, str):
        if lowered in PHONE_KEYS:
            return mask_phone(value)
        return _PHONE_RE.sub(lambda m: mask_phone(m.group(0)), value)
    if isinstance(value, dict):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v, key) for v in value)
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask phone numbers and secrets in every field."""
    for k in list(event_dict):
        event_dict[k] = _scrub(event_dict[k], k)
    return event_dict


def configure(fmt: str = "auto", level: str = "info", stream: Any = None) -> None:
    """Configure structlog and route stdlib logging (uvicorn, twilio, apscheduler) through it."""
    out = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        redact,
    ]
    renderer: Any
    if use_json:
        renderer = structlog.processors.JSONRenderer()
        exc = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        final = [exc, renderer]
    else:
        final = [structlog.dev.ConsoleRenderer(colors=out.isatty())]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "twilio.http_client", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get(name: str = "oncall") -> Any:
    return structlog.stdlib.get_logger(name)
