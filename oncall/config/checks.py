"""Cross-section checks run by the loader (and so by ``oncall check`` and every reload)."""

from __future__ import annotations

from datetime import datetime, timedelta

from oncall.config.snapshot import Snapshot
from oncall.findings import Finding
from oncall.rules import DESK_STATES


def check_ids(snapshot: Snapshot, now: datetime, horizon: timedelta) -> list[Finding]:
    """Duplicate ids in sections whose items are looked up by id."""
    findings: list[Finding] = []
    for section in ("desks", "sources"):
        seen: set[str] = set()
        for i, item in enumerate(snapshot.items.get(section, ())):
            if item.id in seen:
                what = section[:-1].replace("_", " ")
                findings.append(Finding(path=(section, i, "id"), message=f"duplicate {what} id {item.id!r}"))
            seen.add(item.id)
    for section in ("rules", "response_targets"):
        seen = set()
        for i, item in enumerate(snapshot.items.get(section, ())):
            if item.name in seen:
                what = section[:-1].replace("_", " ")
                findings.append(Finding(path=(section, i, "name"), message=f"duplicate {what} name {item.name!r}"))
            seen.add(item.name)
    return findings


def check_customers(snapshot: Snapshot, now: datetime, horizon: timedelta) -> list[Finding]:
    from oncall.entitlements import check_customers as run

    return run(snapshot.items["customers"], snapshot.items["plans"], snapshot.entitlement, set(snapshot.desks))


def check_rules(snapshot: Snapshot, now: datetime, horizon: timedelta) -> list[Finding]:
    """Rules and response targets refer to things that exist."""
    findings: list[Finding] = []
    policies = set(snapshot.escalation_policies)
    for section in ("rules", "response_targets"):
        for i, rule in enumerate(snapshot.items[section]):
            label = f"{section[:-1].replace('_', ' ')} {rule.name!r}"
            if section == "rules" and rule.page and rule.escalation_policy not in policies:
                findings.append(Finding(
                    path=(section, i, "escalation_policy"),
                    message=f"{label}: unknown escalation policy {rule.escalation_policy!r} "
                            f"(known: {', '.join(sorted(policies)) or 'none'})",
                ))
            for j, desk in enumerate(rule.when.desk):
                if desk not in snapshot.desks:
                    findings.append(Finding(path=(section, i, "when", "desk", j),
                                            message=f"{label}: unknown desk {desk!r}"))
            for j, plan in enumerate(rule.when.plan):
                if plan not in snapshot.plans:
                    findings.append(Finding(path=(section, i, "when", "plan", j),
                                            message=f"{label}: unknown plan {plan!r}"))
            for state in rule.when.desk_state:
                assert state in DESK_STATES  # validated by the model
    if not snapshot.rules:
        findings.append(Finding(path=(), message="no rules defined: no ticket will ever page", severity="warning"))
    return findings


def check_policies(snapshot: Snapshot, now: datetime, horizon: timedelta) -> list[Finding]:
    from oncall.escalation.alerting import check_admin_alerts
    from oncall.escalation.policy import check_notifications
    from oncall.escalation.policy import check_policies as run

    settings = snapshot.notifications
    return run(
        snapshot.items["escalation_policies"],
        people_ids=set(snapshot.people),
        schedule_ids=set(snapshot.schedules),
    ) + check_notifications(settings, people_ids=set(snapshot.people)) + check_admin_alerts(
        settings.admins, settings.admin_alerts, snapshot.people)


def check_notify_rules(snapshot: Snapshot, now: datetime, horizon: timedelta) -> list[Finding]:
    """A person's own notification rules name channels they have an address for."""
    from oncall.escalation.alerting import has_address
    from oncall.notify.channels import CHANNELS

    findings: list[Finding] = []
    for i, person in enumerate(snapshot.items["people"]):
        for j, rule in enumerate(person.notify):
            if not has_address(person, rule.via):
                spec = CHANNELS[rule.via]
                findings.append(Finding(path=("people", i, "notify", j, "via"), message=(
                    f"person {person.id!r} is notified via {rule.via} but has no "
                    f"{spec.address_field or spec.address_noun}")))
    return findings


def check_schedules(snapshot: Snapshot, now: datetime, horizon: timedelta) -> list[Finding]:
    from oncall.escalation.policy import policy_schedule_ids
    from oncall.schedules.checks import check_schedules as run

    return run(
        snapshot.items["people"], snapshot.items["schedules"], snapshot.items["overrides"],
        now=now, horizon=horizon, used_schedules=policy_schedule_ids(snapshot.items["escalation_policies"]),
    )


def check_handover(snapshot: Snapshot, now: datetime, horizon: timedelta) -> list[Finding]:
    """Each desk's hand-over, and each response target's after-hours warning, names a schedule
    and channels that exist."""
    from oncall.notify.channels import CHANNELS

    findings: list[Finding] = []
    for i, desk in enumerate(snapshot.items["desks"]):
        schedule = desk.handover.schedule
        if schedule is not None and schedule not in snapshot.schedules:
            findings.append(Finding(path=("desks", i, "handover", "schedule"),
                                    message=f"desk {desk.id!r}: hand-over to unknown schedule {schedule!r} "
                                            f"(known: {', '.join(sorted(snapshot.schedules)) or 'none'})"))
        for j, channel in enumerate(desk.handover.digest):
            if channel not in CHANNELS:
                findings.append(Finding(path=("desks", i, "handover", "digest", j),
                                        message=f"desk {desk.id!r}: unknown hand-over channel {channel!r} "
                                                f"(known: {', '.join(sorted(CHANNELS))})"))
        if schedule is None and not snapshot.notifications.admins:
            findings.append(Finding(path=("desks", i), severity="warning",
                                    message=f"desk {desk.id!r}: no handover.schedule and no admins: "
                                            "nobody receives the hand-over of tickets that waited"))
    for i, target in enumerate(snapshot.items["response_targets"]):
        if target.warn_after_hours is not None and target.warn_after_hours not in snapshot.schedules:
            findings.append(Finding(path=("response_targets", i, "warn_after_hours"),
                                    message=f"response target {target.name!r}: warn_after_hours names unknown "
                                            f"schedule {target.warn_after_hours!r}"))
    return findings


DEFAULT_CHECKS = (check_ids, check_customers, check_rules, check_policies, check_notify_rules,
                  check_schedules, check_handover)
