"""The daemon's duties: what it does on its own, each a small module that runs once.

- ``engine`` (``ONCALL_ENGINE_TICK_SECONDS``, 15, and at the next due step): stored ticket
  events → intake → incidents, then the escalation runner;
- ``poll:<source>`` (the source's ``POLL_INTERVAL``, with its paging and backoff): one poll;
- ``writeback`` (``ONCALL_WRITEBACK_SECONDS``, 10): notes on the tickets, public replies;
- ``chat-updates`` (``ONCALL_CHAT__UPDATE_SECONDS``, 5): acknowledged, escalated, resolved —
  posted to the chat rooms a page reached;
- ``handoffs`` (``ONCALL_HANDOFF_CHECK_SECONDS``, 60): texts before a shift starts;
- ``handover`` (``ONCALL_HANDOVER_CHECK_SECONDS``, 30): at each desk's opening, the tickets that
  waited while it was closed handed to the people on duty;
- ``response-clocks`` (``ONCALL_RESPONSE_CLOCK_SECONDS``, 60): first- and next-response clocks
  followed from the processed ticket events; warnings sent, misses recorded;
- ``silence`` (``ONCALL_SILENCE_CHECK_SECONDS``, 60): admins told of a silent source;
- ``deadman`` (``ONCALL_DEADMAN_SECONDS``, 60): the dead-man's switch ping;
- ``reload`` (``ONCALL_RELOAD_CHECK_SECONDS``, 5): configuration files and stored overrides
  re-read when they changed;
- ``selfcheck`` (``ONCALL_SELFCHECK_SECONDS``, 60): the open-incident gauge, time to
  acknowledge, coverage gaps, this instance's transport failing.

``poll:<source>`` is there for each source that polls, ``writeback`` when some source writes
back, ``chat-updates`` when some chat webhook is configured, ``silence`` when some source has
``SILENCE_AFTER``, ``deadman`` when ``ONCALL_DEADMAN_URL`` is set. All but ``engine``,
``reload`` and ``selfcheck`` are singletons: several instances sharing a database must not run
them at once, and
:class:`~oncall.daemon.scheduler.DutyRunner` asks its ``may_run`` guard before every run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from oncall.daemon.duties.base import ENGINE, Duty, DutyReport, Pacing
from oncall.daemon.duties.chat_updates import chat_update_duties
from oncall.daemon.duties.deadman import DeadmanDuty
from oncall.daemon.duties.engine import EngineDuty
from oncall.daemon.duties.handoffs import HandoffDuty
from oncall.daemon.duties.handover import HandoverDuty
from oncall.daemon.duties.poll import PollDuty
from oncall.daemon.duties.reload import ReloadDuty
from oncall.daemon.duties.response_clocks import ResponseClocksDuty
from oncall.daemon.duties.selfcheck import SelfCheckDuty
from oncall.daemon.duties.silence import SilenceDuty
from oncall.daemon.duties.writeback import WriteBackDuty, acknowledgement_reply

if TYPE_CHECKING:
    from datetime import datetime

    from oncall.daemon.wiring import Daemon

__all__ = ["ENGINE", "Duty", "DutyReport", "Pacing", "duty_list"]


def duty_list(d: Daemon, started: datetime) -> list[Duty]:
    """The duties of the daemon ``d``, in the order of the table above."""
    s = d.settings

    def every(seconds: float) -> timedelta:
        return timedelta(seconds=seconds)

    duties: list[Duty] = [EngineDuty(d.intake, d.escalation, d.metrics, clock=d.clock,
                                     interval=every(s.engine_tick_seconds))]
    duties += [PollDuty(poller, d.metrics, clock=d.clock) for poller in d.pollers.values()]
    if d.writeback.writebacks:
        duties.append(WriteBackDuty(d.writeback, interval=every(s.writeback_seconds),
                                    ack_reply=acknowledgement_reply(s.sources, d.configuration)))
    duties += chat_update_duties(d)
    duties.append(HandoffDuty(d.engine, d.transport, d.configuration, sms_blocked=d.alerts.sms_blocked,
                              enabled=s.handoff_notices, window=timedelta(minutes=s.handoff_notice_minutes),
                              interval=every(s.handoff_check_seconds)))
    duties.append(HandoverDuty(d.engine, d.transport, d.configuration, inbox=d.inbox, service=d.service,
                               sms_blocked=d.alerts.sms_blocked, interval=every(s.handover_check_seconds)))
    duties.append(ResponseClocksDuty(d.engine, d.transport, d.configuration, d.metrics,
                                     sms_blocked=d.alerts.sms_blocked, interval=every(s.response_clock_seconds),
                                     resolve=d.intake.resolve))
    if any(source.silence_after is not None for source in s.sources.values()):
        duties.append(SilenceDuty(d.source_health, d.alerts, interval=every(s.silence_check_seconds)))
    if s.deadman_url:
        duties.append(DeadmanDuty(s.deadman_url, d.http, healthy=d.healthy, interval=every(s.deadman_seconds)))
    duties.append(ReloadDuty(d.configuration, interval=every(s.reload_check_seconds)))
    duties.append(SelfCheckDuty(d.engine, d.metrics, d.alerts, d.configuration, d.transport, d.transport_name,
                                since=started, interval=every(s.selfcheck_seconds)))
    return duties
