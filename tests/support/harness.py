"""A ready-made paging set-up for tests and benchmarks: directory, service, runner
and a recording transport over one database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, update

from oncall.escalation.policy import ChannelLimit, EscalationPolicy, NotificationSettings
from oncall.escalation.runner import Runner
from oncall.incidents import repo
from oncall.incidents.service import IncidentService
from oncall.interfaces import Channel
from oncall.store.tables import notifications
from oncall.testing.paging import FakeDirectory, RecordingTransport, person

PRIMARY = EscalationPolicy.model_validate({
    "id": "primary",
    "steps": [
        {"targets": [{"schedule": "primary"}], "contact": "own", "delay": "15m"},
        {"targets": [{"schedule": "secondary"}, {"person": "bob"}], "contact": "both",
         "delay": "10m"},
    ],
    "repeat": 1,
    "notify_admins_when_exhausted": True,
})


def default_directory() -> FakeDirectory:
    return FakeDirectory(
        contacts={
            "ann": person("ann", Channel.SMS, Channel.VOICE),
            "bob": person("bob", Channel.SMS),
            "cat": person("cat", Channel.VOICE, Channel.SMS),
            "adm": person("adm", Channel.SMS),
        },
        on_call_map={"primary": ("ann",), "secondary": ("cat",)},
        members_map={"primary": ("ann", "bob")},
        policies={"primary": PRIMARY},
        admin_ids=("adm",),
    )


@dataclass
class Paging:
    engine: Engine
    directory: FakeDirectory = field(default_factory=default_directory)
    transport: RecordingTransport = field(default_factory=RecordingTransport)
    settings: NotificationSettings = field(default_factory=lambda: NotificationSettings(
        admins=("adm",), sms=ChannelLimit(min_interval=timedelta(minutes=2))))

    def __post_init__(self) -> None:
        self.service = IncidentService(self.engine, lambda: self.directory)
        self.runner = self.new_runner()

    def new_runner(self, **kwargs: object) -> Runner:
        return Runner(self.engine, self.transport, lambda: self.directory,
                      lambda: self.settings, **kwargs)  # type: ignore[arg-type]


def expire_claims(engine: Engine) -> None:
    """Every sending claim's deadline passes: what the database's clock does while a killed
    runner stays dead. (On SQLite the one instance's runner takes over its dead predecessor's
    claims at once; on PostgreSQL another instance, or the restarted one, waits for this.)"""
    with engine.begin() as conn:
        conn.execute(update(notifications).where(notifications.c.status == repo.SENDING).values(
            claim_deadline=datetime(2000, 1, 1, tzinfo=UTC)))
