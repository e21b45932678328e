"""What oncall tells the customer on the ticket, in public: the wording (section
``customer_replies``), checked when the configuration loads.

Two replies, each optional per source (its settings ``PUBLIC_REPLIES`` and
``PUBLIC_ACK_REPLIES``):

* ``not_covered`` — a ticket that arrived while the desk was closed from a customer not
  entitled to after-hours help: when the desk opens and the response target;
* ``acknowledged`` — an after-hours page was acknowledged: an engineer is on it, and when the
  page went out.

Placeholders are ``{name}``; an unknown one is a configuration error with its file and line.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import datetime

from pydantic import field_validator

from oncall.fields import Model

NOT_COVERED_FIELDS = ("desk", "opens_at", "respond_by", "respond_by_sentence", "ticket")
ACKNOWLEDGED_FIELDS = ("desk", "paged_at", "acknowledged_at", "ticket")

DEFAULT_NOT_COVERED = (
    "Thank you for your request. It arrived outside the support hours of our {desk} desk, "
    "and your plan does not include after-hours help, so it will be handled when the desk opens "
    "on {opens_at}.{respond_by_sentence}")
DEFAULT_ACKNOWLEDGED = (
    "An engineer is working on your request: our on-call engineer was paged at {paged_at} "
    "and acknowledged the page at {acknowledged_at}.")


def placeholders(template: str) -> list[str]:
    """The ``{name}`` fields of ``template``. Raises ``ValueError`` for a malformed one."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def _check(template: str, allowed: tuple[str, ...]) -> str:
    try:
        names = placeholders(template)
    except ValueError as exc:
        raise ValueError(f"malformed template: {exc} (write {{{{ and }}}} for braces)") from None
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}} (known: "
                         f"{', '.join('{' + a + '}' for a in allowed)})")
    return template


class CustomerReplies(Model):
    """The wording of oncall's public replies to customers."""

    not_covered: str = DEFAULT_NOT_COVERED
    """Reply to a ticket not covered after hours. Placeholders: {desk}, {opens_at}, {respond_by},
    {respond_by_sentence} (" We aim to respond by …." or nothing), {ticket}."""
    acknowledged: str = DEFAULT_ACKNOWLEDGED
    """Reply when an after-hours page is acknowledged. Placeholders: {desk}, {paged_at},
    {acknowledged_at}, {ticket}."""

    @field_validator("not_covered")
    @classmethod
    def _not_covered(cls, v: str) -> str:
        return _check(v, NOT_COVERED_FIELDS)

    @field_validator("acknowledged")
    @classmethod
    def _acknowledged(cls, v: str) -> str:
        return _check(v, ACKNOWLEDGED_FIELDS)


def when(t: datetime) -> str:
    """An instant as the customer reads it, in the desk's zone (``t`` is given in it)."""
    return f"{t:%a %d %b %H:%M %Z}"


def render(template: str, values: Mapping[str, str]) -> str:
    return template.format_map(dict(values))
