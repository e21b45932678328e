"""Chat posts through incoming webhooks: Slack, Microsoft Teams, Mattermost, Google Chat.

A webhook is a team's room (or one person's direct messages) in one of those services; its URL
is a secret — whoever holds it can post there — so it lives in the settings, never in the
configuration files, and is never logged: ``ONCALL_CHAT__WEBHOOKS__<NAME>__URL`` and
``__KIND`` (``slack``, ``teams``, ``mattermost``, ``googlechat``), or the same names as files in
``$CREDENTIALS_DIRECTORY``. The configuration names a webhook: a person's
``addresses: {chat: <name>}``, e.g. a "room" entry in ``people`` with only a chat address that
escalation steps target. What each service's post looks like: :mod:`.chat_formats`.

A post is a notification, not a way to acknowledge: it links to the incident's page in the
console (``ONCALL_PUBLIC_URL``) and says how to act. Sending follows the other transports:
429 and 5xx (and timeouts) are retried with backoff (:mod:`.retry`), a ``Retry-After`` is
waited out when it fits the retry budget and ends the attempts when it does not; any other 4xx
is a :class:`~oncall.errors.PermanentDeliveryError` (Slack answers 400 ``invalid_payload``,
403 ``action_prohibited``, 404 ``channel_not_found``, 410 ``channel_is_archived``:
https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks; Slack's
rate limit for webhooks is about one post a second per channel, answered 429 with
``Retry-After``: https://api.slack.com/docs/rate-limits).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog
from pydantic import Field, SecretStr, field_validator
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay, stop_any
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

from oncall.errors import DeliveryError, PermanentDeliveryError
from oncall.fields import Model
from oncall.interfaces import Channel, Outbound, SendResult
from oncall.notify.chat_formats import ChatKind, ChatPost, Tone, notice_post, render
from oncall.notify.privacy import mask_opaque
from oncall.notify.retry import RetryPolicy, TransientError

log = structlog.get_logger(__name__)

CHAT = "chat"
CHAT_TONE = "chat_tone"  # an Outbound's extra: the post's tone (a notice to read, not a page)
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# The console's sign-in-free incident link (ONCALL_CONSOLE__INCIDENT_LINKS) the runner appends to
# one-incident pages: it is personal, and a room is not a person, so a post links to the incident
# page behind sign-in instead.
_PERSONAL_LINK = re.compile(r"\s+\S+/i/\d+/[^/\s]+/[^/\s]+\s*$")


class ChatWebhook(Model):
    """One incoming webhook: a room in a chat service."""

    url: SecretStr
    """The webhook's URL, as the service gave it: a secret."""
    kind: ChatKind
    """Which service it belongs to: slack, teams (a Workflows webhook), mattermost, googlechat."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        if not re.match(r"https?://[^/\s]+", value.get_secret_value()):
            raise ValueError("must be an http(s) URL (not shown: it is a secret)")
        return value


class ChatSettings(Model):
    """``ONCALL_CHAT__…``: the webhooks chat posts go to, by name."""

    webhooks: dict[str, ChatWebhook] = Field(default_factory=dict)
    """By name, as people's ``addresses: {chat: <name>}`` name them (lower case)."""
    timeout_seconds: float = Field(default=5.0, gt=0)
    """How long one post may take."""
    update_seconds: float = Field(default=5.0, gt=0)
    """How often the update feed posts acknowledgements, escalations and resolutions."""

    @field_validator("webhooks")
    @classmethod
    def _names(cls, value: dict[str, ChatWebhook]) -> dict[str, ChatWebhook]:
        named = {k.lower(): v for k, v in value.items()}
        bad = [k for k in named if not _NAME.fullmatch(k)]
        if bad:
            raise ValueError(f"webhook names are lower-case letters, digits, '_' and '-': {', '.join(bad)}")
        return named

    @property
    def configured(self) -> bool:
        return bool(self.webhooks)

    def webhook(self, name: str) -> ChatWebhook | None:
        return self.webhooks.get(name.lower())

    def address_problem(self, address: str) -> tuple[str, str] | None:
        """``(severity, message)`` when a chat address names no configured webhook."""
        if "/" in address or ":" in address:
            return "error", ("a chat address names a webhook; the webhook's URL is a secret and belongs "
                             "in ONCALL_CHAT__WEBHOOKS__<NAME>__URL, not in the configuration")
        if self.webhook(address) is not None:
            return None
        if not self.webhooks:
            return "warning", (f"chat webhook {address!r} is not configured here: no chat webhooks are "
                               f"(ONCALL_CHAT__WEBHOOKS__{address.upper()}__URL and __KIND)")
        return "error", (f"chat webhook {address!r} is not configured (known: "
                         f"{', '.join(sorted(self.webhooks))})")


def mask_webhook(address: str) -> str:
    """A webhook's name is shown as it is; anything else (a URL pasted by mistake) is masked."""
    return address if _NAME.fullmatch(address.lower()) else mask_opaque(address)


def check_address(settings: Any, address: str) -> tuple[str, str] | None:
    """The chat channel's settings check (the descriptor's ``check_address``)."""
    chat: ChatSettings = getattr(settings, "chat", None) or ChatSettings()
    return chat.address_problem(address)


class RetryAfter(TransientError):
    """A 429 (or 503) with a ``Retry-After`` the service asked us to wait."""

    def __init__(self, text: str, seconds: float) -> None:
        super().__init__(text)
        self.retry_after = seconds


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header in seconds: delta-seconds or an HTTP date; None when absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _HideWebhookUrls(logging.Filter):
    """httpx logs each request's URL (at debug level here): a webhook's URL is a secret."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if self.urls:
            message = record.getMessage()
            if any(url in message for url in self.urls):
                for url, name in self.urls.items():
                    message = message.replace(url, f"<chat webhook {name}>")
                record.msg, record.args = message, ()
        return True


_HIDDEN = _HideWebhookUrls()
_HIDDEN_LOCK = threading.Lock()


def _hide(settings: ChatSettings) -> None:
    with _HIDDEN_LOCK:
        for name, hook in settings.webhooks.items():
            url = hook.url.get_secret_value()
            _HIDDEN.urls[url] = name
            try:
                _HIDDEN.urls[str(httpx.URL(url))] = name  # as httpx writes it (ports, escapes)
            except httpx.InvalidURL:
                pass
        for logger in ("httpx", "httpcore"):
            if _HIDDEN not in logging.getLogger(logger).filters:
                logging.getLogger(logger).addFilter(_HIDDEN)


class ChatPoster:
    """Posts a :class:`ChatPost` to a named webhook, in the webhook's service's format.

    ``post`` raises :class:`DeliveryError` after bounded retries of 429/5xx/timeouts and
    :class:`PermanentDeliveryError` (``code`` the HTTP status) for any other 4xx or a name that
    is not configured.
    """

    def __init__(self, settings: ChatSettings, *, retry: RetryPolicy | None = None,
                 client: httpx.Client | None = None) -> None:
        self.settings = settings
        self._retry = retry or RetryPolicy()
        self._own_client = client is None
        self._client = client or httpx.Client(follow_redirects=False)
        _hide(settings)

    def close(self) -> None:
        """Close the HTTP client, unless it was handed in (its owner closes it)."""
        if self._own_client:
            self._client.close()

    def post(self, name: str, post: ChatPost, *, key: str) -> SendResult:
        hook = self.settings.webhook(name)
        shown = mask_webhook(name)
        if hook is None:
            log.error("chat.unknown_webhook", key=key, webhook=shown)
            raise PermanentDeliveryError(f"chat webhook {shown!r} is not configured")
        body = render(hook.kind, post)
        try:
            result = self._attempts(lambda: self._once(hook, body))
        except TransientError as exc:
            log.error("chat.post_failed", key=key, webhook=shown, kind=hook.kind.value, error=str(exc))
            raise DeliveryError(f"chat post to {shown} failed after retries: {exc}") from None
        except PermanentDeliveryError as exc:
            log.error("chat.post_refused", key=key, webhook=shown, kind=hook.kind.value, code=exc.code,
                      error=str(exc))
            raise
        log.info("chat.posted", key=key, webhook=shown, kind=hook.kind.value, status=result.status)
        return result

    def _attempts(self, fn: Callable[[], SendResult]) -> SendResult:
        """The shared retry policy, waiting what a ``Retry-After`` asks instead of the backoff —
        and giving up at once when that would not fit what is left of the policy's budget."""
        policy = self._retry
        backoff = wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

        def asked(state: RetryCallState) -> float | None:
            error = state.outcome.exception() if state.outcome is not None else None
            return getattr(error, "retry_after", None)

        def wait(state: RetryCallState) -> float:
            seconds = asked(state)
            return backoff(state) if seconds is None else seconds

        class too_long(stop_base):
            def __call__(self, state: RetryCallState) -> bool:
                seconds = asked(state)
                elapsed = state.seconds_since_start or 0.0
                return seconds is not None and elapsed + seconds > policy.max_total_seconds

        retrying = Retrying(
            stop=stop_any(stop_after_attempt(policy.attempts), stop_after_delay(policy.max_total_seconds), too_long()),
            wait=wait, retry=retry_if_exception_type(TransientError), sleep=policy.sleep, reraise=True)
        return retrying(fn)

    def _once(self, hook: ChatWebhook, body: dict[str, Any]) -> SendResult:
        try:
            response = self._client.post(hook.url.get_secret_value(), json=body,
                                         timeout=self.settings.timeout_seconds)
        except httpx.TimeoutException:
            raise TransientError("timed out") from None
        except httpx.InvalidURL:
            raise PermanentDeliveryError(f"the {hook.kind.value} webhook's URL is not valid (not shown: a secret)") \
                from None
        except httpx.HTTPError as exc:  # never str(exc): httpx's messages may carry the URL
            raise TransientError(f"connection failed: {type(exc).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(provider_id=_provider_id(response), status="posted")
        what = f"HTTP {status}" + (f": {_said(response)}" if _said(response) else "")
        if status == 429 or status >= 500 or status == 408:
            seconds = retry_after_seconds(response.headers.get("Retry-After"))
            if seconds is not None:
                raise RetryAfter(f"{what} (retry after {seconds:g}s)", seconds)
            raise TransientError(what)
        raise PermanentDeliveryError(f"{hook.kind.value} refused the post ({what})", code=status)


def _said(response: httpx.Response) -> str:
    """The service's short error word (Slack's ``channel_not_found``…), never a long body."""
    text = response.text.strip()
    return text if re.fullmatch(r"[\w .:-]{1,60}", text) else ""


def _provider_id(response: httpx.Response) -> str | None:
    """Google Chat answers with the message, whose ``name`` identifies it; the others say "ok"."""
    try:
        name = response.json().get("name")
    except (ValueError, AttributeError):
        return None
    return name[:100] if isinstance(name, str) else None


def incident_links(public_url: str | None) -> Callable[[int], str | None]:
    """``incident id -> URL`` of its page in the console (behind sign-in); None without
    ``ONCALL_PUBLIC_URL``."""
    base = public_url.rstrip("/") if public_url else None

    def link(incident_id: int) -> str | None:
        return f"{base}/incidents/{incident_id}" if base else None

    return link


class ChatTransport:
    """The chat channel's transport: pages and admin alerts as posts to the named webhook."""

    name = "chat"

    def __init__(self, settings: ChatSettings, public_url: str | None, *,
                 poster: ChatPoster | None = None) -> None:
        self._poster = poster or ChatPoster(settings)
        self.incident_url = incident_links(public_url)

    def channels(self) -> frozenset[Channel]:
        return frozenset({Channel(CHAT)})

    def close(self) -> None:
        self._poster.close()

    def send(self, message: Outbound) -> SendResult:
        if message.channel != CHAT:
            raise PermanentDeliveryError(f"chat transport cannot send {message.channel}")
        text = _PERSONAL_LINK.sub("", message.text) if message.incident_ids else message.text
        tone = message.extra.get(CHAT_TONE)
        post = notice_post(text, message.incident_ids, self.incident_url,
                           tone=Tone(tone) if tone in set(Tone) else Tone.PAGE)
        return self._poster.post(message.to, post, key=message.key)


def build(settings: Any) -> ChatTransport | None:
    """The descriptor's transport factory: None until some webhook is configured."""
    chat: ChatSettings = getattr(settings, "chat", None) or ChatSettings()
    return ChatTransport(chat, settings.public_url) if chat.configured else None
