"""Running the daemon: start, serve, drain, stop.

Start: the worker child, when this process has one (``oncall run``: it starts importing while
this one does); uvicorn on ``ONCALL_LISTEN`` (the protocol bounds slow clients and open
connections) — unless this process is that worker child, which serves no HTTP —; the lease
keeper and the links between the processes; the duties on their scheduler; the banner (or the
``oncall started`` event); READY to systemd. While running, WATCHDOG keep-alives are sent from
the event loop itself, so a stuck loop gets the service restarted. Signals: SIGHUP reloads the
configuration (and is passed on to the worker child); SIGTERM/SIGINT drain — webhooks answer
503 so helpdesks retry, the duties' runs in flight finish within
``ONCALL_SHUTDOWN_BUDGET_SECONDS``, then the worker child drains in the same budget and the
leases are let go — and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import signal
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

from oncall import logs
from oncall.sdnotify import Notifier, watchdog_interval
from oncall.web.server import ConnectionStats, connection_budget, guarded_protocol

if TYPE_CHECKING:
    from oncall.daemon.wiring import Daemon

log = logs.get("oncall.daemon")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the daemon owns SIGTERM/SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Lifecycle:
    def __init__(self, daemon: Daemon, notifier: Notifier | None = None) -> None:
        self.daemon = daemon
        self.notifier = notifier or Notifier()
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def request_stop(self) -> None:
        """Begin the drain (SIGTERM): webhooks answer 503 from now on."""
        self.daemon.draining = True
        self._stop.set()

    def request_stop_threadsafe(self) -> None:
        """:meth:`request_stop` from another thread (the worker child's parent went away)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.request_stop)

    async def run(self) -> int:
        d = self.daemon
        loop = self._loop = asyncio.get_running_loop()
        started = time.monotonic()
        if d.handle_signals:
            loop.add_signal_handler(signal.SIGTERM, self.request_stop)
            loop.add_signal_handler(signal.SIGINT, self.request_stop)
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(
                None, contextvars.copy_context().run, self._reload))  # logged as this process
        d.roles.start()
        server: _Server | None = None
        server_task: asyncio.Task[None] | None = None
        if d.roles.serves_http:
            server = self._server()
            server_task = asyncio.create_task(server.serve())
            while not server.started:
                if server_task.done():
                    await server_task
                    log.critical("http.failed_to_start", listen=d.settings.listen)
                    await asyncio.to_thread(d.roles.stop, 0.0)
                    return 1
                await asyncio.sleep(0.01)
        d.duties.start()
        interval = watchdog_interval()
        watchdog = asyncio.create_task(self._watchdog(interval)) if interval else None
        if not d.roles.serves_http:
            pass  # the worker child: its web process said what there is to say
        elif logs.renders_json():
            log.info("oncall started", **d.startup_facts())
        else:
            print(d.banner(), file=d.out, flush=True)
        log.info("daemon.ready", seconds=round(time.monotonic() - started, 3), transport=d.transport_name,
                 instance=d.instance_id, role=d.roles.name)
        self.notifier.ready(f"listening on {d.settings.listen}" if d.roles.serves_http else "working")

        await self._stop.wait()
        # Drain: webhooks already answer 503 (draining); let the work in flight finish.
        d.stopping = True
        self.notifier.stopping()
        log.info("daemon.stopping")
        budget = d.settings.shutdown_budget_seconds
        unfinished = await d.duties.stop(budget)
        if unfinished:
            log.error("daemon.worker_did_not_finish", budget=budget, duties=unfinished)
        await asyncio.to_thread(d.roles.stop, budget)
        if server is not None and server_task is not None:
            server.should_exit = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server_task, timeout=2.0)
        if watchdog:
            watchdog.cancel()
        d.http.close()
        d.engine.dispose()
        log.info("daemon.stopped")
        return 0

    def _reload(self) -> None:
        self.daemon.reload("SIGHUP")
        self.daemon.roles.reload_worker()

    def _server(self) -> _Server:
        d = self.daemon
        max_connections, d.http_warning = connection_budget(d.settings.http.max_connections)
        if d.http_warning:
            log.warning("http.max_connections_lowered", reason=d.http_warning)
        shed = ConnectionStats(on_refused=d.metrics.http_connections_refused.inc,
                               on_timed_out=d.metrics.http_requests_timed_out.inc)
        config = uvicorn.Config(d.build_app(), host=d.settings.listen_host, port=d.settings.listen_port,
                                http=guarded_protocol(d.settings.http, max_connections, shed),
                                log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=5)
        server = _Server(config)
        connections = server.server_state.connections
        d.metrics.before_render(lambda: d.metrics.http_connections.set(len(connections)))
        return server

    async def _watchdog(self, interval: float) -> None:
        # Sent from the event loop itself: a stuck loop stops the keep-alives and systemd restarts
        # us. A standalone worker (--role worker) also withholds them while its duties make no
        # progress (a deadlock, a wedged database call): no web process watches it but systemd.
        told = False
        while not self._stop.is_set():
            stalled = self.daemon.roles.stalled()
            if stalled is None:
                self.notifier.watchdog()
                told = False
            elif not told:
                told = True
                log.error("worker.stalled", pid=os.getpid(), silent_seconds=round(stalled[0], 1),
                          waiting_on=stalled[1], limit_seconds=self.daemon.settings.worker_stall_seconds,
                          action="watchdog keep-alives withheld: systemd restarts the service")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval)
