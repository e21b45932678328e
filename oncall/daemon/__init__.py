"""``oncall run``: an asyncio daemon composed of parts and a list of duties — its web role (HTTP)
in the main process, its worker role (the duties) in a child process it supervises.

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
  resumes where it was;
- :mod:`.leases` — the lease keeper, the scheduler's ``may_run`` guard: singleton duties under
  named leases, none while :mod:`.gate`, the schema gate, is closed;
- :mod:`.processes` — which processes ``oncall run --role all|web|worker`` starts;
  :mod:`.roles` — what each role runs and how they meet; :mod:`.worker_process` — the
  supervised worker child and its link; :mod:`.wake` — NOTIFY between separate roles.
"""

from __future__ import annotations

from oncall.daemon.banner import display_url
from oncall.daemon.wiring import Daemon, SystemClock, open_store

__all__ = ["Daemon", "SystemClock", "display_url", "open_store"]
