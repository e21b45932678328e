"""The benchmark runs, agrees with its RFC 5545 peer (it asserts so) and reports every column."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_schedules.py"


def test_benchmark_rows_have_the_agreed_columns() -> None:
    spec = importlib.util.spec_from_file_location("bench_schedules_smoke", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.run()
    assert [r["benchmark"].split(":")[0] for r in rows] == ["on_call(t)", "shifts()"]
    for row in rows:
        assert set(row) == {"benchmark", "ours_us", "peer_us", "ratio", "target", "met"}
        assert row["ours_us"] > 0 and row["peer_us"] > 0
    assert "| on_call(t)" in module.markdown(rows)
