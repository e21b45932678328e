"""The SMS reply grammar, including a property test that it never raises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncall.notify.replies import Reply, ReplyKind, parse_reply

K = ReplyKind
CASES = [
    ("ack", K.ACK, None), ("a", K.ACK, None), ("A", K.ACK, None), ("ACK", K.ACK, None),
    ("1a", K.ACK, 1), ("1A", K.ACK, 1), ("1 a", K.ACK, 1), ("ack 1", K.ACK, 1),
    ("ack1", K.ACK, 1), ('"1a"', K.ACK, 1), ("'ack 12'", K.ACK, 12), ("“1a”", K.ACK, 1),
    ("#3 ack", K.ACK, 3), ("  1a.  ", K.ACK, 1), ("1a!", K.ACK, 1), ("１ａ", K.ACK, 1),
    ("1e", K.ESCALATE, 1), ("esc 1", K.ESCALATE, 1), ("escalate 1", K.ESCALATE, 1),
    ("ESCALATE 22", K.ESCALATE, 22), ("e", K.ESCALATE, None), ("1 esc", K.ESCALATE, 1),
    ("1r", K.RESOLVE, 1), ("resolve 1", K.RESOLVE, 1), ("r 4", K.RESOLVE, 4),
    ("ack all", K.ACK_ALL, None), ("aa", K.ACK_ALL, None), ("AA", K.ACK_ALL, None),
    ("Ack All", K.ACK_ALL, None), ("ackall", K.ACK_ALL, None),
    ("STOP", K.STOP, None), ("stop", K.STOP, None), (" Stop ", K.STOP, None),
    ("STOPALL", K.STOP, None), ("unsubscribe", K.STOP, None), ("CANCEL", K.STOP, None),
    ("end", K.STOP, None), ("Quit", K.STOP, None),
    ("START", K.START, None), ("yes", K.START, None), ("UNSTOP", K.START, None),
    ("HELP", K.HELP, None), ("info", K.HELP, None),
    ("", K.UNKNOWN, None), ("hello", K.UNKNOWN, None), ("1", K.UNKNOWN, None),
    ("1x", K.UNKNOWN, None), ("stop it", K.UNKNOWN, None), ("please ack", K.UNKNOWN, None),
    ("1234567a", K.UNKNOWN, None), ("٣a", K.UNKNOWN, None), ("a a a", K.UNKNOWN, None),
]


@pytest.mark.parametrize(("text", "kind", "code"), CASES)
def test_parse_reply(text: str, kind: ReplyKind, code: int | None) -> None:
    assert parse_reply(text) == Reply(kind=kind, code=code)


@given(st.text())
def test_parse_reply_never_raises(text: str) -> None:
    reply = parse_reply(text)
    assert isinstance(reply.kind, ReplyKind)
    assert reply.code is None or 0 <= reply.code < 1_000_000


@given(st.integers(min_value=0, max_value=999_999), st.sampled_from(["a", "e", "r"]),
       st.sampled_from(["", " ", "  "]), st.booleans())
def test_code_and_verb_in_any_spacing_and_case(code: int, verb: str, space: str,
                                               upper: bool) -> None:
    text = f"{code}{space}{verb}"
    reply = parse_reply(text.upper() if upper else text)
    assert reply.code == code
    assert reply.kind == {"a": K.ACK, "e": K.ESCALATE, "r": K.RESOLVE}[verb]
