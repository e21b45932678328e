"""The GSM 03.38 alphabet: which texts fit one SMS segment, and how to make them fit.

A GSM-7 segment holds 160 septets (153 when concatenated); characters of the
extension table (``^{}\\[~]|€`` and form feed) take two septets. One character
outside the alphabet switches the whole message to UCS-2: 70 characters a segment
(67 when concatenated), so a stray curly quote costs more than half the space.
"""

from __future__ import annotations

import math
import unicodedata

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

# Look-alikes people paste from documents and ticket systems.
_REPLACEMENTS = {
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'",
    "“": '"', "”": '"', "„": '"', "″": '"', "«": '"', "»": '"',
    "–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-",
    "…": "...", "\u00a0": " ", "\t": " ", "•": "*", "·": "-",
    # Latin letters without a Unicode decomposition.
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "ı": "i", "Œ": "OE", "œ": "oe", "Þ": "Th",
    "þ": "th", "ð": "d", "Ħ": "H", "ħ": "h",
}


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM-7 alphabet (with extension)."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def gsm7_length(text: str) -> int:
    """Septets ``text`` takes in GSM-7 (extension characters count twice)."""
    return sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)


def sms_length(text: str) -> tuple[int, int]:
    """``(units used, units per single segment)``: septets/160 or UTF-16 units/70."""
    if is_gsm7(text):
        return gsm7_length(text), 160
    return len(text.encode("utf-16-le")) // 2, 70


def gsm7_segments(text: str) -> int:
    """How many SMS segments ``text`` is billed and delivered as (0 for empty text)."""
    used, single = sms_length(text)
    if used == 0:
        return 0
    if used <= single:
        return 1
    per_part = 153 if single == 160 else 67
    return math.ceil(used / per_part)


def _transliterate(ch: str) -> str | None:
    if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
        return ch
    if ch in _REPLACEMENTS:
        return _REPLACEMENTS[ch]
    # Strip accents: "ł" has no decomposition, but "ç", "ő", "â" do.
    decomposed = unicodedata.normalize("NFKD", ch)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    if base and all(c in GSM7_BASIC for c in base):
        return base
    if unicodedata.category(ch).startswith("Z") or ch in "\u200b\ufeff":
        return " "
    if unicodedata.category(ch) == "Cc":
        return " "
    return None


def to_gsm7(text: str) -> str | None:
    """``text`` rewritten in GSM-7 (quotes, dashes, accents), or None when letters
    would be lost (e.g. Cyrillic or CJK: better sent as UCS-2 than as '?????')."""
    out: list[str] = []
    for ch in text:
        repl = _transliterate(ch)
        if repl is None:
            # A lost Latin letter leaves a readable word; lost Cyrillic or CJK does not.
            if ch.isalnum() and "LATIN" not in unicodedata.name(ch, ""):
                return None
            repl = "?"
        out.append(repl)
    return "".join(out)


def fit(text: str, budget: int, *, gsm: bool) -> str:
    """Cut ``text`` so that it takes at most ``budget`` units, ending in "..." if cut.

    Prefers a word boundary when one is near the end, so a subject reads naturally.
    """
    measure = gsm7_length if gsm else (lambda s: len(s.encode("utf-16-le")) // 2)
    if measure(text) <= budget:
        return text
    if budget <= 3:
        return "." * max(budget, 0)
    cut = text
    while cut and measure(cut) > budget - 3:
        cut = cut[:-1]
    space = cut.rfind(" ")
    if space >= max(len(cut) - 12, 1):
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "..."
