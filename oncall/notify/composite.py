"""Choosing transports from settings, and routing each channel to the right one.

Twilio carries SMS and voice when configured; SMTP carries e-mail when configured;
without Twilio credentials every page is printed by the console transport.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oncall.errors import PermanentDeliveryError
from oncall.interfaces import Channel, Outbound, SendResult, Transport
from oncall.metrics import Metrics


class ChannelRouter:
    """A Transport that hands each message to the transport serving its channel."""

    name = "router"

    def __init__(self, routes: dict[Channel, Transport]) -> None:
        self.routes = routes

    def channels(self) -> frozenset[Channel]:
        return frozenset(self.routes)

    def send(self, message: Outbound) -> SendResult:
        transport = self.routes.get(message.channel)
        if transport is None:
            raise PermanentDeliveryError(f"no transport configured for {message.channel}")
        return transport.send(message)

    @property
    def healthy(self) -> bool:
        return all(getattr(t, "healthy", True) for t in set(self.routes.values()))


def build_transport(settings: Any) -> tuple[Transport, str]:
    """(transport, description for the banner) from the process settings."""
    from oncall.notify.console import ConsoleTransport

    routes: dict[Channel, Transport] = {}
    words: list[str] = []
    if settings.twilio.configured:
        from oncall.notify.twilio_transport import TwilioTransport

        twilio = TwilioTransport(settings.twilio, settings.public_url)
        for channel in twilio.channels():
            routes[channel] = twilio
        words.append(f"twilio ({', '.join(sorted(c.value for c in twilio.channels()))})")
    if settings.smtp.configured:
        from oncall.notify.smtp import SmtpTransport

        routes[Channel.EMAIL] = SmtpTransport(settings.smtp)
        words.append("smtp (email)")
    if not routes:
        console = ConsoleTransport()
        return console, "console — pages are PRINTED HERE, not sent (no Twilio credentials)"
    return ChannelRouter(routes), " + ".join(words)


class CountingTransport:
    """Counts hand-overs per channel (Prometheus) around another transport: pages sent and
    failed, and the hand-over outcome (sent · rejected · error, with the provider's code)."""

    def __init__(self, inner: Transport, metrics: Metrics,
                 on_permanent: Callable[[Outbound, PermanentDeliveryError], None] | None = None) -> None:
        self.inner = inner
        self.on_permanent = on_permanent
        self.name = getattr(inner, "name", type(inner).__name__)
        self._metrics = metrics

    def channels(self) -> frozenset[Channel]:
        return self.inner.channels()

    @property
    def healthy(self) -> bool:
        return bool(getattr(self.inner, "healthy", True))

    def send(self, message: Outbound) -> SendResult:
        channel = message.channel.value
        try:
            result = self.inner.send(message)
        except PermanentDeliveryError as exc:
            self._metrics.pages_failed.labels(channel).inc()
            self._metrics.delivery(channel, "rejected", exc.code)
            if self.on_permanent is not None:
                self.on_permanent(message, exc)
            raise
        except Exception as exc:
            self._metrics.pages_failed.labels(channel).inc()
            self._metrics.delivery(channel, "error", getattr(exc, "code", None))
            raise
        self._metrics.pages_sent.labels(channel).inc()
        self._metrics.delivery(channel, "sent")
        return result
