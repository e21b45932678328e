"""`make bench`: run every benchmark module under bench/, print one Markdown table,
write bench/results.json."""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from pathlib import Path

MODULES = [
    "bench.bench_business_time",
    "bench.bench_schedules",
    "bench.bench_engine",
    "bench.bench_worker",
    "bench.bench_daemon",
    "bench.bench_cluster",
    "bench.bench_console",
]


def fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.3g}" if v < 100 else f"{v:,.0f}"
    if isinstance(v, bool):
        return "yes" if v else "**NO**"
    return "" if v is None else str(v)


def main() -> int:
    rows: list[dict[str, object]] = []
    failures: list[str] = []
    for name in MODULES:
        started = time.perf_counter()
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            failures.append(f"{name}: not available ({exc})")
            continue
        try:
            for row in module.run():
                rows.append({"suite": name.removeprefix("bench.bench_"), **row})
        except Exception as exc:  # report and keep going: one broken bench must not hide the rest
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
        print(f"# {name} done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(fmt(row.get(k)) for k in keys) + " |")
    for f in failures:
        print(f"\nFAILED: {f}")
    machine = {"python": platform.python_version(), "machine": platform.machine(),
               "processor": platform.processor(), "system": platform.platform()}
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps({"machine": machine, "rows": rows, "failures": failures}, indent=2, default=str))
    print(f"\nwrote {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
