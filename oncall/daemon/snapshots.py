"""The running configuration: one immutable snapshot, swapped whole or not at all.

The holder is what every part reads the configuration through (call it: ``holder()`` is the
current snapshot). It holds the files' snapshot merged with the overrides stored in the
database (made on the web, by any instance), the files' digest as last read, and the last
refused edit. :meth:`SnapshotHolder.reload` is SIGHUP's and the reload duty's; a refused edit
keeps the running snapshot, is counted, logged and told to the admins once per edit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from oncall import logs
from oncall.config.loader import digest, load
from oncall.config.settings import Settings
from oncall.config.snapshot import Snapshot, with_stored_overrides
from oncall.errors import ConfigError
from oncall.interfaces import Clock
from oncall.metrics import Metrics
from oncall.schedules.stored_overrides import StoredOverrides

log = logs.get("oncall.daemon")

Refused = Callable[[str, str, datetime], object]
"""``(key, text, now)``: tell the admins about a refused edit (de-duplicated by ``key``)."""


def load_configuration(settings: Settings, now: datetime) -> Snapshot:
    """The configuration directory's snapshot as of ``now``. Raises :class:`ConfigError`."""
    return load(settings.config, now=now, horizon=timedelta(days=settings.coverage_horizon_days))


class SnapshotHolder:
    def __init__(self, settings: Settings, snapshot: Snapshot, overrides: StoredOverrides, metrics: Metrics, *,
                 clock: Clock, changed: Callable[[], None], refused: Refused) -> None:
        """``changed`` is called after every swap (it wakes the engine); ``refused`` tells the
        admins about an edit that was not applied."""
        self.settings = settings
        self.overrides = overrides
        self.metrics = metrics
        self.clock = clock
        self.changed = changed
        self.refused = refused
        self.digest = snapshot.digest
        self.last_reload_error: str | None = None
        self._lock = threading.Lock()  # SIGHUP, the reload duty and the console may all ask at once
        self.overrides_seen = overrides.revision()
        self.current = with_stored_overrides(snapshot, overrides.live())

    def __call__(self) -> Snapshot:
        return self.current

    def files_changed(self) -> bool:
        """The configuration directory's files differ from those last read."""
        return digest(self.settings.config) != self.digest

    def overrides_changed(self) -> bool:
        """An override was added or removed since the last merge (perhaps by another instance)."""
        return self.overrides.revision() != self.overrides_seen

    def refresh_overrides(self) -> None:
        """Merge the stored (web) overrides again after one was added or removed."""
        with self._lock:
            self.overrides_seen = self.overrides.revision()
            merged = with_stored_overrides(self.current, self.overrides.live())
            changed, self.current = merged is not self.current, merged
        if changed:
            self.changed()

    def reload(self, why: str, now: datetime | None = None) -> bool:
        """Build a new snapshot; swap it in atomically, or keep the running one."""
        with self._lock:
            swapped = self._reload(why, now or self.clock.now())
        if swapped:
            self.changed()
        return swapped

    def _reload(self, why: str, now: datetime) -> bool:
        new_digest = digest(self.settings.config)
        try:
            snapshot = load_configuration(self.settings, now)
        except ConfigError as exc:
            self.digest = new_digest  # don't retry the same bad edit every few seconds
            self.last_reload_error = str(exc)
            self.metrics.reload_failures.inc()
            log.error("config.reload_refused", why=why, errors=[str(i) for i in exc.issues])
            more = f" (+{len(exc.issues) - 1} more)" if len(exc.issues) > 1 else ""
            self.refused(f"reload:{new_digest[:16]}",
                         f"configuration edit refused, still running the previous one: {exc.issues[0]}{more}", now)
            return False
        self.current = with_stored_overrides(snapshot, self.overrides.live())
        self.digest = snapshot.digest
        self.last_reload_error = None
        self.metrics.reloads.inc()
        log.info("config.reloaded", why=why, people=len(snapshot.people), schedules=len(snapshot.schedules))
        return True
