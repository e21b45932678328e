"""``oncall run``: one asyncio process, composed of parts and a list of duties.

- :mod:`.wiring` — the composition root, :class:`Daemon`: takes the parts it is handed
  (clock, store, transports, snapshot, HTTP client, the duties' ``may_run`` guard) and builds
  the rest from the settings; :func:`open_store` is the explicit migration step;
- :mod:`.lifecycle` — uvicorn, the duties' scheduler, signals (SIGHUP reloads, SIGTERM
  drains), the systemd watchdog and notifications;
- :mod:`.app` — the HTTP app assembled from the parts; :mod:`.banner` — what it says at start;
- :mod:`.snapshots` — the running configuration, reloaded whole or not at all;
- :mod:`.duties` — what it does on its own (engine, pollers, write-back, hand-offs, silence,
  dead-man, reload, self-check), each with ``run_once(now)``; :mod:`.scheduler` times them on
  APScheduler, the alarm clock: all work is re-derived from the database, so a restart
  resumes where it was.
"""

from __future__ import annotations

from oncall.daemon.banner import display_url
from oncall.daemon.wiring import Daemon, SystemClock, open_store

__all__ = ["Daemon", "SystemClock", "display_url", "open_store"]
