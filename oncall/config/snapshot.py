"""The immutable configuration snapshot every decision reads.

Built once per (re)load from validated section items; the daemon swaps the whole
object atomically on reload. Nothing in here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from oncall.customer_replies import CustomerReplies
from oncall.desks.model import default_desk
from oncall.errors import ConfigError, ConfigIssue
from oncall.fields import Model

if TYPE_CHECKING:
    from oncall.desks.model import Desk
    from oncall.entitlements import Customer, EntitlementPolicy, Plan
    from oncall.escalation.policy import EscalationPolicy, NotificationSettings
    from oncall.rules import ResponseTarget, Rule
    from oncall.schedules.models import Override, Person, Schedule
    from oncall.schedules.resolve import ResolvedSchedule
    from oncall.sources.settings import SourceMapping

M = TypeVar("M", bound=Model)


def _by_id(items: tuple[M, ...]) -> Mapping[str, M]:
    return MappingProxyType({getattr(i, "id"): i for i in items})  # noqa: B009


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    config_dir: Path
    digest: str
    loaded_at: datetime
    desks: Mapping[str, Desk]
    plans: Mapping[str, Plan]
    customers: Mapping[str, Customer]
    entitlement: EntitlementPolicy
    rules: tuple[Rule, ...]
    response_targets: tuple[ResponseTarget, ...]
    people: Mapping[str, Person]
    schedules: Mapping[str, Schedule]
    overrides: tuple[Override, ...]
    escalation_policies: Mapping[str, EscalationPolicy]
    notifications: NotificationSettings
    source_mappings: Mapping[str, SourceMapping]
    items: Mapping[str, tuple[Any, ...]]  # every list section in file order (for checks)
    warnings: tuple[ConfigIssue, ...] = ()
    customer_replies: CustomerReplies = field(default_factory=CustomerReplies)
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        config_dir: Path,
        items: Mapping[str, tuple[Model, ...]],
        singles: Mapping[str, Model],
        *,
        digest: str,
        loaded_at: datetime,
    ) -> Snapshot:
        desks: tuple[Desk, ...] = items["desks"]  # type: ignore[assignment]
        if not desks:
            raise ConfigError([ConfigIssue(file=str(config_dir), message="no desks defined: "
                                           "add a 'desks' section with at least one desk")])
        return cls(
            config_dir=config_dir,
            digest=digest,
            loaded_at=loaded_at,
            desks=_by_id(desks),
            plans=_by_id(items["plans"]),  # type: ignore[arg-type]
            customers=_by_id(items["customers"]),  # type: ignore[arg-type]
            entitlement=singles["entitlement"],  # type: ignore[arg-type]
            rules=items["rules"],  # type: ignore[arg-type]
            response_targets=items["response_targets"],  # type: ignore[arg-type]
            people=_by_id(items["people"]),  # type: ignore[arg-type]
            schedules=_by_id(items["schedules"]),  # type: ignore[arg-type]
            overrides=items["overrides"],  # type: ignore[arg-type]
            escalation_policies=_by_id(items["escalation_policies"]),  # type: ignore[arg-type]
            notifications=singles["notifications"],  # type: ignore[arg-type]
            source_mappings=_by_id(items["sources"]),  # type: ignore[arg-type]
            customer_replies=singles["customer_replies"],  # type: ignore[arg-type]
            items=MappingProxyType(dict(items)),
        )

    def with_warnings(self, warnings: tuple[ConfigIssue, ...]) -> Snapshot:
        return replace(self, warnings=warnings, _cache={})

    @property
    def default_desk(self) -> Desk:
        """The desk serving tickets that name no known customer (see ``desks.default_desk``)."""
        return default_desk(self.desks)

    def resolved(self, schedule_id: str) -> ResolvedSchedule:
        """The compiled schedule (with its overrides), built once per snapshot."""
        from oncall.errors import ScheduleError
        from oncall.schedules.resolve import ResolvedSchedule

        key = f"schedule:{schedule_id}"
        found = self._cache.get(key)
        if found is None:
            schedule = self.schedules.get(schedule_id)
            if schedule is None:
                raise ScheduleError(f"unknown schedule {schedule_id!r} (known: {', '.join(sorted(self.schedules))})")
            found = self._cache[key] = ResolvedSchedule(schedule, self.overrides)
        return found

    def on_call(self, schedule_id: str, t: datetime) -> tuple[str, ...]:
        return self.resolved(schedule_id).on_call(t)


def file_overrides(snapshot: Snapshot) -> tuple[Override, ...]:
    """The overrides written in the configuration files (whatever was merged in since)."""
    return tuple(snapshot.items.get("overrides", ()))


def with_stored_overrides(snapshot: Snapshot, stored: Iterable[Override]) -> Snapshot:
    """``snapshot`` whose overrides are its files' plus ``stored`` (replacing any stored ones
    merged before): the one merge every reader of overrides goes through (the stored ones are
    ``oncall.schedules.stored_overrides.StoredOverrides.live()``)."""
    merged = file_overrides(snapshot) + tuple(stored)
    if merged == snapshot.overrides:
        return snapshot
    return replace(snapshot, overrides=merged, _cache={})
