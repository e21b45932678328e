"""oncall — after-hours emergency paging for support teams."""

from __future__ import annotations

__version__ = "0.1.0"
