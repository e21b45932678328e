"""Choosing transports from settings, and routing each channel to the right one.

Which transport carries a channel is the channel's descriptor's to say (:mod:`.channels`):
Twilio carries SMS and voice when configured, SMTP e-mail; with none configured every page
is printed by the console transport.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oncall.errors import PermanentDeliveryError
from oncall.interfaces import Channel, Outbound, SendResult, Transport
from oncall.metrics import Metrics
from oncall.notify.channels import CHANNELS, TransportFactory


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

    @property
    def outages(self) -> int:
        return sum(int(getattr(t, "outages", 0)) for t in set(self.routes.values()))


def build_transport(settings: Any) -> tuple[Transport, str]:
    """(transport, description for the banner) from the process settings.

    Each registered channel's ``transport`` builds what carries it (channels built by one
    function share one transport); without any, every page is printed by the console.
    """
    from oncall.notify.console import ConsoleTransport

    routes: dict[Channel, Transport] = {}
    built: dict[TransportFactory, Transport | None] = {}
    for channel in Channel:
        make = CHANNELS[channel].transport
        if make is None:
            continue
        if make not in built:
            built[make] = make(settings)
        transport = built[make]
        if transport is not None and channel in transport.channels():
            routes[channel] = transport
    if not routes:
        console = ConsoleTransport()
        return console, "console — pages are PRINTED HERE, not sent (no Twilio credentials)"
    words = []
    for transport in {id(t): t for t in routes.values()}.values():  # each once, in order
        served = sorted(c.value for c, t in routes.items() if t is transport)
        words.append(f"{transport.name} ({', '.join(served)})")
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

    @property
    def outages(self) -> int:
        return int(getattr(self.inner, "outages", 0))

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
