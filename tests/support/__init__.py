"""The test harness: crash trials and their fork server, crash workers, load clients,
test databases, paging rigs and the configurations the daemon tests share.

It lives under ``tests/`` and never ships: the wheel holds only the reusable fakes in
``oncall/testing/``. pytest finds it through ``pythonpath = ["tests"]`` (pyproject), the
benchmarks through ``bench/__init__.py``, and a subprocess that runs one of its modules
(``python -m support.crashworker``) through :func:`subprocess_env`.
"""

from __future__ import annotations

import os
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent  # the directory holding this package


def subprocess_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with ``tests/`` first on PYTHONPATH,
    so ``python -m support.<module>`` works whatever the working directory."""
    result = dict(os.environ if env is None else env)
    rest = result.get("PYTHONPATH")
    result["PYTHONPATH"] = os.pathsep.join([str(TESTS), rest] if rest else [str(TESTS)])
    return result
