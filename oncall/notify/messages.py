"""What pages say: SMS texts that fit one segment, voice scripts, replies to replies.

The first SMS of a page must be readable on a lock screen at 3 a.m. and fit one
GSM-7 segment (160 characters): reply code, priority, customer, subject, ticket,
and how to answer. Texts are transliterated to GSM-7 (curly quotes, dashes,
accents) because one stray character would switch the message to UCS-2 and halve
the room; only text in a non-Latin script is sent as UCS-2 (70 characters).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from oncall.notify.gsm7 import fit, gsm7_length, gsm7_segments, to_gsm7

__all__ = [
    "PageSummary",
    "bundle_sms",
    "gsm7_segments",
    "help_text",
    "not_understood_text",
    "page_sms",
    "status_line",
    "unknown_number_text",
    "voice_script",
]

SMS_SEGMENT = 160
UCS2_SEGMENT = 70
_MIN_SUBJECT = 15


@dataclass(frozen=True, kw_only=True)
class PageSummary:
    """One incident as a bundle lists it."""

    code: int
    priority: str
    customer: str
    subject: str
    ticket_id: str


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _prepare(*parts: str) -> tuple[list[str], bool]:
    """Parts cleaned and transliterated; ``gsm`` False when UCS-2 is unavoidable."""
    cleaned = [_clean(p) for p in parts]
    converted = [to_gsm7(p) for p in cleaned]
    if all(c is not None for c in converted):
        return [c for c in converted if c is not None], True
    return cleaned, False


def _measure(text: str, gsm: bool) -> int:
    return gsm7_length(text) if gsm else len(text.encode("utf-16-le")) // 2


def _fill(templates: Sequence[str], subject: str, budget: int, gsm: bool, **fields: str) -> str:
    """The first template whose fixed part leaves enough room for the subject."""
    for template in templates:
        fixed = template.format(subject="", **fields)
        room = budget - _measure(fixed, gsm)
        if room >= min(_measure(subject, gsm), _MIN_SUBJECT):
            return template.format(subject=fit(subject, room, gsm=gsm), **fields)
    # Nothing fits (a huge customer name or ticket id): cut the shortest form.
    return fit(templates[-1].format(subject=subject, **fields), budget, gsm=gsm)


def page_sms(code: int, priority: str, customer: str, subject: str, ticket_id: str) -> str:
    """``URGENT #1 acme: Production down (ticket T-1001). Reply 1a ack, 1e escalate``.

    Shortens the subject first, then the wording, so the result fits one segment.
    """
    (prio, cust, subj, ticket), gsm = _prepare(priority, customer, subject, ticket_id)
    prio = prio.upper()
    head = f"{prio} #{code}" if prio else f"#{code}"
    templates = (
        "{head} {cust}: {subject} (ticket {ticket}). Reply {c}a ack, {c}e escalate",
        "{head} {cust}: {subject} ({ticket}). Reply {c}a ack, {c}e esc",
        "{head} {cust}: {subject}. Reply {c}a ack, {c}e esc",
        "#{c} {cust}: {subject}. {c}a=ack {c}e=esc",
    )
    budget = SMS_SEGMENT if gsm else UCS2_SEGMENT
    cust = fit(cust, 24, gsm=gsm)
    return _fill(templates, subj, budget, gsm, head=head, cust=cust, ticket=ticket, c=str(code))


def bundle_sms(items: Sequence[PageSummary]) -> str:
    """One SMS for a storm: ``12 new urgent incidents, oldest #481: acme Production down.
    Reply AA to ack all``. ``items`` are oldest first; one item is an ordinary page."""
    if not items:
        raise ValueError("bundle_sms needs at least one incident")
    oldest = items[0]
    if len(items) == 1:
        return page_sms(oldest.code, oldest.priority, oldest.customer, oldest.subject,
                        oldest.ticket_id)
    priorities = {i.priority.strip().lower() for i in items}
    (prio, cust, subj), gsm = _prepare(
        priorities.pop() if len(priorities) == 1 else "", oldest.customer, oldest.subject
    )
    kind = f"{prio} incidents" if prio else "incidents"
    templates = (
        "{n} new {kind}, oldest #{c}: {cust} {subject}. Reply AA to ack all",
        "{n} new {kind}, oldest #{c}: {cust} {subject}. AA=ack all",
    )
    budget = SMS_SEGMENT if gsm else UCS2_SEGMENT
    return _fill(templates, subj, budget, gsm, n=str(len(items)), kind=kind,
                 cust=fit(cust, 24, gsm=gsm), c=str(oldest.code))


def voice_script(priority: str, customer: str, subject: str, ticket_id: str | None = None) -> str:
    """What a call reads: ``Urgent ticket from Acme: production down. Press 4 to
    acknowledge, 5 to escalate, star to repeat.``"""
    prio = _clean(priority).capitalize()
    lead = f"{prio} ticket" if prio else "Ticket"
    ticket = f" Ticket {_clean(ticket_id)}." if ticket_id else ""
    return (f"{lead} from {_clean(customer)}: {_clean(subject).rstrip('.')}.{ticket} "
            "Press 4 to acknowledge, 5 to escalate, star to repeat.")


def status_line(codes: int | Sequence[int], action: str, actor: str, open_count: int) -> str:
    """The answer to an acknowledger: ``#1 acknowledged by alice. 2 open.``"""
    if isinstance(codes, int):
        codes = (codes,)
    if len(codes) == 0:
        what = "Nothing"
    elif len(codes) <= 4:
        what = ", ".join(f"#{c}" for c in codes)
    else:
        what = f"{len(codes)} incidents"
    text = f"{what} {action} by {_clean(actor)}. {open_count} open."
    converted = to_gsm7(text)
    return fit(converted if converted is not None else text, SMS_SEGMENT,
               gsm=converted is not None)


def help_text() -> str:
    """The one-line help sent for HELP and for replies that parse as nothing."""
    return ("oncall: reply 1a to ack #1, 1e to escalate, 1r to resolve, "
            "A to ack the latest, AA to ack all. STOP ends SMS pages.")


def not_understood_text() -> str:
    return "Not understood. Reply 1a to ack #1, 1e to escalate, 1r to resolve, AA to ack all."


def unknown_number_text() -> str:
    return "oncall: this number is not on the on-call roster; nothing was changed."
