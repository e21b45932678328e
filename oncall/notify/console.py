"""The console transport: pages printed to stdout (and logged) instead of sent.

Used when no Twilio credentials are configured — a fresh checkout's ``make run`` —
so the whole flow can be watched on one terminal, with acks given by the CLI. When the
logs are JSON lines (``ONCALL_LOG_FORMAT=json``, or no terminal) stdout must carry JSON
only: the block is left out and the ``console.page`` log line (which has the text) remains.
"""

from __future__ import annotations

import itertools
import sys
import threading
from typing import TextIO

import structlog

from oncall import logs
from oncall.interfaces import Channel, Outbound, SendResult
from oncall.notify.channels import CHANNELS

log = structlog.get_logger(__name__)
_RULE = "=" * 64


class ConsoleTransport:
    """Prints every page in a block that stands out; never fails."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def channels(self) -> frozenset[Channel]:
        return frozenset(Channel)  # every registered channel

    def send(self, message: Outbound) -> SendResult:
        stream = self._stream or sys.stdout
        spec = CHANNELS[message.channel]
        incidents = ", ".join(f"#{i}" for i in message.incident_ids) or "-"
        with self._lock:
            provider_id = f"console-{next(self._counter)}"
            lines = [
                _RULE,
                f"PAGE ({message.channel}) to {message.person_id} "
                f"<{spec.mask(message.to)}>  incidents {incidents}  [{provider_id}]",
            ]
            if message.subject and spec.subject:
                lines.append(f"Subject: {message.subject}")
            lines += [message.text, _RULE]
            if self._stream is not None or not logs.renders_json():
                stream.write("\n".join(lines) + "\n")
                stream.flush()
        log.warning("console.page", key=message.key, channel=str(message.channel),
                    person=message.person_id, to=spec.mask(message.to),
                    incidents=list(message.incident_ids), provider_id=provider_id,
                    text=message.text)
        return SendResult(provider_id=provider_id, status="printed")
