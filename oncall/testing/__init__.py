"""Fakes for testing code built on oncall, shipped with the package: a fake Twilio
(:mod:`.fake_twilio`, with test identities and a recording inbound handler in
:mod:`.twilio_doubles`), fake helpdesks (:mod:`.fake_helpdesks`, payload builders in
:mod:`.helpdesk_payloads`, an in-memory ticket sink in :mod:`.fake_helpdesk_store`), a
fake escalation directory and recording transport (:mod:`.paging`) and a clock moved by
hand (:mod:`.clock`).

They import nothing a production install lacks. The test harness itself — crash trials,
the daemon fork server, crash workers, load clients, test databases, paging rigs — lives
in the repository's ``tests/support/`` and is not installed.
"""

from __future__ import annotations
