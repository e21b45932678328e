"""Benchmarks (``make bench``, ``python -m bench``). They stand on the test harness in
``tests/support/`` (the daemon launcher, load clients, fake directories), which is not part
of the installed package: importing ``bench`` puts ``tests/`` on ``sys.path`` for it."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent.parent / "tests")
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
