"""systemd's notify protocol (READY=1, WATCHDOG=1, STOPPING=1) without a dependency.

A datagram on the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a leading ``@`` means
the abstract namespace). Outside systemd every call is a no-op.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    """Sends notify messages to ``address`` (default ``$NOTIFY_SOCKET``)."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *lines: str) -> bool:
        """Send ``KEY=value`` lines; returns False (never raises) when it cannot."""
        if not self.address:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                # Called from the event loop: never block it on a full receive queue.
                sock.setblocking(False)
                sock.connect(target)
                sock.sendall("\n".join(lines).encode())
        except OSError:
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def reloading(self) -> bool:
        return self.send("RELOADING=1")


def watchdog_interval() -> float | None:
    """Half of systemd's WatchdogSec (``$WATCHDOG_USEC``), in seconds; None when unset."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000
