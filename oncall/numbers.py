"""Numbers written as text by others (headers, payloads, path segments).

``str.isdigit()`` also accepts "²" and "٣", which ``int()`` refuses, and ``int()`` refuses
strings of more than 4,300 digits: every place that reads a count, a code or an id from
outside goes through :func:`ascii_int`, so neither reaches ``int()``.
"""

from __future__ import annotations


def ascii_int(text: str, *, max_digits: int = 18) -> int | None:
    """The non-negative integer ``text`` spells in ASCII digits (surrounding blanks allowed),
    or ``None`` when it is anything else or longer than ``max_digits`` significant digits."""
    digits = text.strip()
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    significant = digits.lstrip("0")
    if len(significant) > max_digits:
        return None
    return int(significant or "0")
