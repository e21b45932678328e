"""Findings: what cross-checks report, located later by the loader.

Bottom layer: each package checks its own sections and returns findings; ``oncall.config``
runs the checks and turns each finding's path into ``file:line``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Finding:
    """A problem found by a check over the whole configuration.

    ``path`` points into the merged configuration, e.g. ``("schedules", 2, "layers", 0)``:
    the index is the item's position in the snapshot's tuple for that section. The loader
    turns the path into ``file:line``.
    """

    path: tuple[str | int, ...]
    message: str
    severity: str = "error"  # "error" | "warning"
