"""``oncall run``'s worker child is bound to its web process before anything else happens.

``python -m oncall run --role worker --link-fd N --parent PID`` is how the web process starts
its worker (:mod:`oncall.daemon.worker_process`). The child asks the kernel to SIGKILL it when
its parent dies (Linux's ``PR_SET_PDEATHSIG``) and, should the parent already be gone, exits:
first thing, before the seconds of imports — it holds the parent's SQLite instance locks, and
an orphan must not keep a restarted instance waiting for them. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence

PR_SET_PDEATHSIG = 1


def parent_from_argv(argv: Sequence[str]) -> int:
    """The ``--parent`` pid on a worker child's command line (0 when absent)."""
    args = list(argv)
    for flag, value in zip(args, [*args[1:], ""], strict=True):
        if flag == "--parent" and value.isdigit():
            return int(value)
        if flag.startswith("--parent=") and flag[9:].isdigit():
            return int(flag[9:])
    return 0


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies (Linux; elsewhere the closed link stops it),
    and stop now if ``parent`` is no longer its parent."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)
