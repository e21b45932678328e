"""The SMS reply grammar: what an engineer may text back to a page.

Forms (case-insensitive, spaces and quotes optional): ``ack``/``a`` (the latest
page to that phone), ``1a``, ``1 a``, ``ack 1``, ``#1 ack``; ``1e``/``esc 1``/
``escalate 1``; ``1r``/``resolve 1``; ``ack all``/``aa``. Carrier keywords (STOP,
START, HELP…) must be the whole message, as Twilio matches them, so that oncall's
idea of "blocked" never differs from the carrier's.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class ReplyKind(StrEnum):
    ACK = "ack"
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    ACK_ALL = "ack_all"
    STOP = "stop"
    START = "start"
    HELP = "help"
    UNKNOWN = "unknown"


@dataclass(frozen=True, kw_only=True)
class Reply:
    kind: ReplyKind
    code: int | None = None  # the per-phone reply code; None = the latest page


# Twilio's default opt-out keywords (Advanced Opt-Out may add more; these are fixed).
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
START_WORDS = frozenset({"start", "yes", "unstop"})
HELP_WORDS = frozenset({"help", "info"})

_VERBS = {
    "a": ReplyKind.ACK, "ack": ReplyKind.ACK, "acknowledge": ReplyKind.ACK,
    "e": ReplyKind.ESCALATE, "esc": ReplyKind.ESCALATE, "escalate": ReplyKind.ESCALATE,
    "r": ReplyKind.RESOLVE, "res": ReplyKind.RESOLVE, "resolve": ReplyKind.RESOLVE,
}
_VERB = "|".join(sorted(_VERBS, key=len, reverse=True))
# Codes are short; capping the digits also keeps int() away from huge inputs.
_CODE_FIRST = re.compile(rf"#?([0-9]{{1,6}}) ?({_VERB})", re.ASCII)
_VERB_FIRST = re.compile(rf"({_VERB})(?: ?#?([0-9]{{1,6}}))?", re.ASCII)
_ACK_ALL = re.compile(r"aa|ack ?all|a ?all|acknowledge ?all", re.ASCII)
_QUOTES = str.maketrans("", "", "\"'`‘’‚‛“”„«»")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    text = re.sub(r"\s+", " ", text).strip()
    return text.strip(" .!,;:")


def parse_reply(text: str) -> Reply:
    """Classify an SMS reply. Never raises; anything unrecognised is ``UNKNOWN``."""
    keyword = text.strip().casefold()
    if keyword in STOP_WORDS:
        return Reply(kind=ReplyKind.STOP)
    if keyword in START_WORDS:
        return Reply(kind=ReplyKind.START)
    if keyword in HELP_WORDS or keyword == "?":
        return Reply(kind=ReplyKind.HELP)
    body = _normalise(text)
    if _ACK_ALL.fullmatch(body):
        return Reply(kind=ReplyKind.ACK_ALL)
    if m := _CODE_FIRST.fullmatch(body):
        return Reply(kind=_VERBS[m.group(2)], code=int(m.group(1)))
    if m := _VERB_FIRST.fullmatch(body):
        code = m.group(2)
        return Reply(kind=_VERBS[m.group(1)], code=int(code) if code else None)
    return Reply(kind=ReplyKind.UNKNOWN)
