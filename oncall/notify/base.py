"""The transport interface's names, where notify's and escalation's modules have always found
them: defined in :mod:`oncall.interfaces` (``Transport``, ``Outbound``, ``SendResult``,
``Channel``) and re-exported here. New code imports them from :mod:`oncall.interfaces`.
"""

from __future__ import annotations

from oncall.interfaces import Channel, Outbound, SendResult, Transport

__all__ = ["Channel", "Outbound", "SendResult", "Transport"]
