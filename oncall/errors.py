"""One exception tree for oncall.

::

    OncallError                      root: anything oncall raises on purpose
    ├── ConfigError                  the configuration cannot be used (holds ConfigIssue items)
    ├── TicketError                  a ticket (JSON, webhook body) is malformed; names the field
    ├── ScheduleError                a schedule question cannot be answered (unknown schedule…)
    ├── IncidentError                an incident operation is refused (wrong state, busy)
    │   ├── NoSuchIncident           no incident has that id
    │   └── UnknownActor             the person acting is not in the configuration
    ├── StoreError                   the database cannot be used (missing, unreachable, wrong schema)
    │   └── LeaseLost                a lease this instance worked under was taken or lapsed: write nothing
    ├── SourceError                  a ticket source failed (signature, poller, write-back)
    │   └── SignatureError           an inbound request is not authentic
    └── DeliveryError                a notification could not be handed to a transport
        └── PermanentDeliveryError   retrying will not help (invalid number, unsubscribed)
            └── AddressOptedOut      the recipient told the provider to stop (texted STOP)

A user never sees a traceback for a mistake in their input: the CLI and the HTTP
layer catch ``OncallError`` and print / return its message.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ConfigIssue:
    """One problem found in the configuration, located as precisely as the format allows."""

    file: str
    message: str
    line: int | None = None
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.severity}: {self.message}"


class OncallError(Exception):
    """Root of every error oncall raises on purpose."""


class ConfigError(OncallError):
    """The configuration cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue] | str) -> None:
        if isinstance(issues, str):
            issues = [ConfigIssue(file="<config>", message=issues)]
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class TicketError(OncallError):
    """A ticket is malformed. ``field`` names the offending field (dotted path)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class ScheduleError(OncallError):
    """A schedule question cannot be answered (unknown schedule, bad window…)."""


class IncidentError(OncallError):
    """An incident operation is refused (unknown incident, unknown actor, wrong state)."""


class NoSuchIncident(IncidentError):
    """No incident has the id asked for."""

    def __init__(self, incident_id: int) -> None:
        self.incident_id = incident_id
        super().__init__(f"no incident #{incident_id}")


class UnknownActor(IncidentError):
    """The person named as acting is not one of the configuration's people."""

    def __init__(self, actor: str) -> None:
        self.actor = actor
        super().__init__(f"unknown person {actor!r}: actors are people from the configuration")


class StoreError(OncallError):
    """The database cannot be used: not there, unreachable, or its schema is not this version's."""


class LeaseLost(StoreError):
    """The named lease a singleton duty works under is no longer this instance's (another took
    it, or it lapsed while this one was frozen or cut off): what it was doing must stop."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        super().__init__(f"lease {name}: {reason}")


class SourceError(OncallError):
    """A ticket source failed: poller, write-back, or webhook handling."""


class SignatureError(SourceError):
    """An inbound request is not authentic (missing, stale or wrong signature)."""


class DeliveryError(OncallError):
    """A notification could not be handed to its transport; may succeed on retry."""


class PermanentDeliveryError(DeliveryError):
    """A notification can never be delivered this way (invalid number, unsubscribed)."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


class AddressOptedOut(PermanentDeliveryError):
    """The recipient has opted out of messages from us at this address (e.g. texted STOP).

    A transport raises it in place of its provider's error code, so that nothing outside the
    transport knows provider codes. Nothing gets through until the recipient opts back in.
    """
