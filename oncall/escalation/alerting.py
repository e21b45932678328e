"""How admins are told about problems: a severity per alert, channels per severity per admin.

A *warning* is a configuration or source problem — a refused reload, a silent source, values
oncall does not know, a phone that texted STOP. It goes by SMS, else e-mail, and never rings
a phone unless an admin asks for it: a typo must not wake anyone with a file path read aloud.
A *critical* alert means paging is broken — the transport failing every delivery, nobody on
call for a schedule an escalation policy uses, a policy exhausted or reaching nobody. It goes
by the admin's own contact methods, a call included. Per admin, in ``notifications``::

    admin_alerts:
      dana: {warning: [email], critical: [sms, voice]}

Each list is tried in order until one channel delivers; channels the admin has no address
for are skipped. Which channels ring, and which one takes over for an admin who texted STOP,
are the channels' descriptors' to say (:mod:`oncall.notify.channels`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Protocol

from pydantic import BeforeValidator

from oncall.fields import Model, one_or_many
from oncall.findings import Finding
from oncall.interfaces import Channel
from oncall.notify.channels import CHANNELS, Addressable, after_stop, quiet_channels


class AlertSeverity(StrEnum):
    WARNING = "warning"  # configuration and source problems: never a call unless asked for
    CRITICAL = "critical"  # paging is broken: may call


# The channels that never ring (sms, email): a warning must not wake anyone unless asked.
DEFAULT_WARNING_CHANNELS = quiet_channels()


def _one_or_many_or_none(value: object) -> object:
    return None if value is None else one_or_many(value)  # nothing written: the default


class AdminAlertChannels(Model):
    """How one admin is told about problems: per severity, channels tried in order until one
    delivers."""

    warning: Annotated[tuple[Channel, ...], BeforeValidator(one_or_many)] = DEFAULT_WARNING_CHANNELS
    """Configuration and source problems (a refused reload, a silent source, unmapped values,
    STOP): by default sms, else email; never a call unless listed."""
    critical: Annotated[tuple[Channel, ...] | None, BeforeValidator(_one_or_many_or_none)] = None
    """Paging is broken (the transport failing, nobody on call for a schedule a policy uses, a
    policy exhausted): absent, the admin's own contact_methods, in order."""

    def channels(self, severity: AlertSeverity, own: Iterable[Channel | str]) -> tuple[Channel, ...]:
        """The channels for ``severity``; ``own``: the admin's contact methods."""
        if severity is AlertSeverity.WARNING:
            return self.warning
        return self.critical if self.critical is not None else tuple(Channel(c) for c in own)


def with_stop_fallback(channels: tuple[Channel, ...], severity: AlertSeverity,
                       sms_blocked: bool) -> tuple[Channel, ...]:
    """An admin who texted STOP is called instead of texted, for critical alerts only."""
    if severity is not AlertSeverity.CRITICAL or not sms_blocked:
        return channels
    return (*channels, *(c for c in after_stop(channels) if c not in channels))


class Reachable(Addressable, Protocol):
    """What the checks need of a person (:class:`oncall.schedules.models.Person`)."""

    @property
    def contact_methods(self) -> tuple[str, ...]: ...


def has_address(person: Reachable, channel: Channel) -> bool:
    return CHANNELS[channel].address_of(person) is not None


def check_admin_alerts(admins: tuple[str, ...], admin_alerts: Mapping[str, AdminAlertChannels],
                       people: Mapping[str, Reachable]) -> list[Finding]:
    """Admin alert channels name known admins and channels they can be reached by."""
    here = ("notifications", "admin_alerts")
    findings: list[Finding] = []
    for admin in admin_alerts:
        if admin not in people:
            findings.append(Finding(path=(*here, admin), message=(
                f"admin_alerts: unknown person {admin!r}")))
        elif admin not in admins:
            findings.append(Finding(path=(*here, admin), severity="warning", message=(
                f"admin_alerts: {admin!r} is not in admins, so this has no effect")))
    for i, admin in enumerate(admins):
        person = people.get(admin)
        if person is None:
            continue  # an unknown admin is reported with the admins
        chosen = admin_alerts.get(admin)
        for severity in AlertSeverity:
            channels = (chosen or AdminAlertChannels()).channels(severity, person.contact_methods)
            explicit = chosen is not None and (severity is AlertSeverity.WARNING
                                               or chosen.critical is not None)
            if explicit:
                for channel in channels:
                    if not has_address(person, channel):
                        spec = CHANNELS[channel]
                        findings.append(Finding(path=(*here, admin, severity.value), message=(
                            f"admin_alerts: {admin!r} gets {severity} alerts by {channel} but "
                            f"has no {spec.address_field or spec.address_noun}")))
            elif channels and not any(has_address(person, c) for c in channels):
                findings.append(Finding(path=("notifications", "admins", i), severity="warning",
                                        message=(f"admin {admin!r} cannot be told of {severity} "
                                                 f"alerts: no address for {', '.join(channels)}")))
    return findings


def describe_admin_alerts(admins: tuple[str, ...], admin_alerts: Mapping[str, AdminAlertChannels],
                          people: Mapping[str, Reachable]) -> list[str]:
    """One line per admin: how each severity reaches them, as ``oncall check`` shows it."""
    lines = []
    for admin in admins:
        person = people.get(admin)
        if person is None:
            continue
        chosen = admin_alerts.get(admin) or AdminAlertChannels()
        parts = []
        for severity in AlertSeverity:
            usable = [c.value for c in chosen.channels(severity, person.contact_methods)
                      if has_address(person, c)]
            parts.append(f"{severity} by {' else '.join(usable) or 'nothing'}")
        lines.append(f"admin alerts for {admin}: {'; '.join(parts)}")
    return lines
