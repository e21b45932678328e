"""ops/: the Prometheus alerting rules load and behave as their unit tests say, and every
query of the Grafana dashboard is valid PromQL (checked with promtool).

That each metric these files name is exposed by the daemon is checked against a live
scrape in tests/daemon/test_daemon_metrics.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus" / "oncall-alerts.yml"
RULE_TESTS = ROOT / "ops" / "prometheus" / "oncall-alerts.test.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "oncall-dashboard.json"
# Grafana's variables, replaced by what they stand for at query time.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "6h", "$__interval": "1m", "$instance": ".*"}


def promtool_run(promtool: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd)


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_queries() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def test_alert_rules_pass_promtool_check_rules(promtool: str) -> None:
    checked = promtool_run(promtool, "check", "rules", str(RULES))
    assert 0 == checked.returncode, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_alert_rules_fire_as_their_unit_tests_expect(promtool: str) -> None:
    tested = promtool_run(promtool, "test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert 0 == tested.returncode, tested.stdout + tested.stderr


def test_the_alerts_an_on_call_pager_needs_are_there() -> None:
    rules = yaml.safe_load(RULES.read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {"OncallDown", "OncallSourceSilent", "OncallDeliveryFailures", "OncallIncidentUnacknowledged"} <= names
    tested = yaml.safe_load(RULE_TESTS.read_text())
    exercised = {t["alertname"] for case in tested["tests"] for t in case.get("alert_rule_test", [])}
    assert {"OncallDown", "OncallSourceSilent", "OncallDeliveryFailures", "OncallIncidentUnacknowledged"} <= exercised


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    """promtool parses the queries as recording rules (Grafana's variables substituted)."""
    queries = dashboard_queries()
    assert queries
    rules = []
    for i, query in enumerate(queries):
        for variable, stands_for in GRAFANA_VARIABLES.items():
            query = query.replace(variable, stands_for)
        assert "$" not in query, f"an unknown Grafana variable in {query!r}"
        rules.append({"record": f"dashboard:query_{i}", "expr": query})
    as_rules = tmp_path / "dashboard-queries.yml"
    as_rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = promtool_run(promtool, "check", "rules", str(as_rules))
    assert 0 == checked.returncode, checked.stdout + checked.stderr


def test_dashboard_panels_are_placed_and_use_the_datasource_variable() -> None:
    data = dashboard()
    panels = data["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
        if panel["type"] != "row":
            assert {"type": "prometheus", "uid": "${datasource}"} == panel["datasource"], panel["title"]
            assert panel["targets"], panel["title"]
    assert "datasource" in [v["name"] for v in data["templating"]["list"]]


@pytest.mark.parametrize("query", dashboard_queries())
def test_dashboard_queries_filter_by_the_instance_variable(query: str) -> None:
    assert re.search(r'instance=~"\$instance"', query), query
