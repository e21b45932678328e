"""Sampling profiles of the daemon's processes while a benchmark figure runs (py-spy, from the
``bench`` extra), for the targets a figure misses: where the web process and the worker spend
their time.

    with Profile(pid, "time-to-page-200") as profile:   # pid: the instance's web process
        ...the load...
    print(profile.summary())

With ``BENCH_PROFILE=1`` the daemon benchmarks profile each of their load figures and write
the summaries under ``bench/profiles/`` (not kept in git). Where py-spy is missing, or may not
attach (ptrace not permitted), the profile is empty and says why; the benchmark goes on.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import TracebackType

ENABLED = os.environ.get("BENCH_PROFILE", "") == "1"
OUT = Path(__file__).with_name("profiles")
ROOT = str(Path(__file__).resolve().parent.parent) + "/"


class Profile:
    """``py-spy record`` on ``pid`` and its children (the worker) for the duration of the block."""

    def __init__(self, pid: int, name: str, *, rate: int = 100) -> None:
        self.pid = pid
        self.name = name
        self.rate = rate
        self.raw = Path(tempfile.mkdtemp(prefix="oncall-profile-")) / f"{name}.txt"
        self.proc: subprocess.Popen[bytes] | None = None
        self.problem: str | None = None

    def __enter__(self) -> Profile:
        exe = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
        if exe is None:
            self.problem = "py-spy is not installed (pip install py-spy, or the bench extra)"
            return self
        self.proc = subprocess.Popen([exe, "record", "--pid", str(self.pid), "--subprocesses", "--format", "raw",
                                      "--rate", str(self.rate), "--output", str(self.raw), "--nonblocking"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        if not self.raw.exists():
            self.problem = f"py-spy wrote nothing: {err.decode(errors='replace').strip()[-300:]}"

    def stacks(self) -> Counter[tuple[str, ...]]:
        """Collapsed stacks (outermost frame first) and how many samples each got."""
        found: Counter[tuple[str, ...]] = Counter()
        if not self.raw.exists():
            return found
        for line in self.raw.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                found[tuple(stack.split(";"))] += int(count)
        return found

    def summary(self, top: int = 12) -> str:
        """The busiest functions: by own time (the leaf frame), and oncall's by time inside them."""
        if self.problem:
            return f"{self.name}: no profile ({self.problem})"
        stacks = self.stacks()
        total = sum(stacks.values()) or 1
        own: Counter[str] = Counter()
        inside: Counter[str] = Counter()
        for stack, count in stacks.items():
            frames = [_short(f) for f in stack]
            if frames:
                own[frames[-1]] += count
            for frame in set(frames):
                if "oncall/" in frame:
                    inside[frame] += count
        lines = [f"{self.name}: {total} samples at {self.rate}/s (web process and worker)", "  own time:"]
        lines += [f"    {100 * n / total:5.1f} %  {frame}" for frame, n in own.most_common(top)]
        lines.append("  inside oncall's functions (inclusive):")
        lines += [f"    {100 * n / total:5.1f} %  {frame}" for frame, n in inside.most_common(top)]
        return "\n".join(lines)

    def save(self) -> Path:
        OUT.mkdir(exist_ok=True)
        path = OUT / f"{self.name}.txt"
        path.write_text(self.summary(40) + "\n")
        return path


def _short(frame: str) -> str:
    """``function (path/to/module.py:line)`` without the line and the site-packages prefix."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", ROOT, "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


def profiled(pid: int | None, name: str) -> AbstractContextManager[object]:
    """A :class:`Profile` of ``pid`` saved under ``bench/profiles/`` when ``BENCH_PROFILE=1``;
    else nothing."""
    if not ENABLED or pid is None:
        return nullcontext()
    return _Saved(pid, name)


class _Saved(Profile):
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        super().__exit__(exc_type, exc, tb)
        self.save()
