"""Public holiday calendars from the ``holidays`` library, cached per country and year.

Calendars are built once per (country, subdivision, observed, categories, year): building a
year costs about half a millisecond, a lookup in the cached dict well under a microsecond.
A named subset (``only``) matches the library's spelling case-insensitively; a name that is
a unique prefix of a library name at a word boundary ("Thanksgiving" → "Thanksgiving Day")
is accepted too. With ``observed`` the "(observed)" variant of a listed holiday counts.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Any

import holidays as holidays_lib

# Names the library uses for substitute days; stripped to find the holiday they stand for.
_SUFFIX_RE = re.compile(r"\s*\(([^()]*)\)\s*$")
_SUFFIX_WORDS = ("observed", "estimated", "substitute")
# Years scanned to learn which holiday names a calendar knows (for validating ``only``).
_NAME_YEARS = range(2000, 2041)

Categories = tuple[str, ...] | None


def _build(country: str, subdiv: str | None, observed: bool, categories: Categories,
           years: Any) -> Any:
    kwargs: dict[str, Any] = {"subdiv": subdiv, "observed": observed, "years": years}
    if categories is not None:
        kwargs["categories"] = categories
    return holidays_lib.country_holidays(country, **kwargs)


def check_calendar(country: str, subdiv: str | None, categories: Categories) -> None:
    """Raise ValueError naming the problem when the library has no such calendar."""
    supported = holidays_lib.list_supported_countries()
    if country not in supported:
        raise ValueError(f"unknown holiday country {country!r} (use an ISO 3166 code such as 'US')")
    if subdiv is not None and subdiv not in supported[country]:
        raise ValueError(
            f"unknown subdivision {subdiv!r} of {country} "
            f"(known: {', '.join(supported[country])})"
        )
    try:
        _build(country, subdiv, True, categories, [])
    except (NotImplementedError, ValueError) as exc:
        raise ValueError(f"holiday calendar {country}: {exc}") from None


def base_name(name: str) -> str:
    """'Christmas Day (observed)' → 'Christmas Day'."""
    while True:
        m = _SUFFIX_RE.search(name)
        if not m or not any(w in m.group(1).lower() for w in _SUFFIX_WORDS):
            return name
        name = name[: m.start()]


@lru_cache(maxsize=4096)
def year_calendar(country: str, subdiv: str | None, observed: bool, categories: Categories,
                  year: int) -> dict[date, tuple[str, ...]]:
    """Every holiday of one year: date → the library's names for it."""
    cal = _build(country, subdiv, observed, categories, year)
    return {day: tuple(cal.get_list(day)) for day in cal if day.year == year}


@lru_cache(maxsize=256)
def known_names(country: str, subdiv: str | None, categories: Categories) -> tuple[str, ...]:
    """Sorted base names of every holiday the calendar has in 2000–2040."""
    cal = _build(country, subdiv, True, categories, _NAME_YEARS)
    return tuple(sorted({base_name(n) for day in cal for n in cal.get_list(day)}))


@lru_cache(maxsize=256)
def resolve_only(country: str, subdiv: str | None, observed: bool, categories: Categories,
                 only: tuple[str, ...]) -> frozenset[str]:
    """The library's spelling of each name in ``only``; ValueError listing valid names."""
    known = known_names(country, subdiv, categories)
    by_lower = {n.lower(): n for n in known}
    resolved: set[str] = set()
    unknown: list[str] = []
    for wanted in only:
        key = wanted.strip().lower()
        if key in by_lower:
            resolved.add(by_lower[key])
            continue
        prefixed = [n for n in known if n.lower().startswith(key + " ")]
        if len(prefixed) == 1:
            resolved.add(prefixed[0])
        else:
            unknown.append(wanted)
    if unknown:
        where = country if subdiv is None else f"{country}-{subdiv}"
        raise ValueError(
            f"unknown holiday name(s) {', '.join(map(repr, unknown))} for {where}; "
            f"valid names: {', '.join(known)}"
        )
    return frozenset(resolved)


def holidays_in_year(country: str, subdiv: str | None, observed: bool, categories: Categories,
                     only: tuple[str, ...] | None, year: int) -> dict[date, str]:
    """Holidays of one year that close the desk: date → name(s) joined with '; '."""
    days = year_calendar(country, subdiv, observed, categories, year)
    wanted = None if only is None else resolve_only(country, subdiv, observed, categories, only)
    result: dict[date, str] = {}
    for day, names in days.items():
        kept = names if wanted is None else tuple(n for n in names if base_name(n) in wanted)
        if kept:
            result[day] = "; ".join(kept)
    return result
