"""The alert rules, their runbooks and the Grafana dashboard, checked offline with promtool.

- deploy/observability/alerts.yaml passes `promtool check rules` and the unit tests in
  rules_tests/, which show every alert firing on a series that should fire and silent on one
  that should not;
- every alert carries severity, summary, description and a runbook_url whose anchor is a
  heading of docs/runbooks.md;
- the dashboard is classic Grafana JSON with a fixed uid, the datasource/namespace/role
  variables, unique panel ids, a non-overlapping layout, and queries promtool can parse;
- alerts and dashboard only name metrics keymint exports (keymint.observability.metrics).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from keymint.observability.metrics import REGISTRY
from observability.dashboard import all_panels, load, panel_queries

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "observability" / "alerts.yaml"
DASHBOARD = ROOT / "deploy" / "observability" / "dashboard.json"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
RULE_TESTS = sorted((Path(__file__).parent / "rules_tests").glob("*.yaml"))
# One prefix for every runbook link, so the chart (or a fork) can rewrite it in one place.
RUNBOOK_BASE = "https://github.com/keymint/keymint/blob/main/docs/runbooks.md#"
SEVERITIES = {"critical", "warning", "info"}


@pytest.fixture(scope="session")
def promtool() -> str:
    # CI installs it first (.ci/run); a missing promtool must not pass as a silent skip.
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not on PATH: run `make deps-system` (installs Debian's `prometheus` "
            "package, which ships promtool 2.42)",
            pytrace=False,
        )
    return path


def run(promtool: str, *args: str | Path) -> None:
    done = subprocess.run(
        [promtool, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        command = " ".join(map(str, args))
        pytest.fail(f"promtool {command}:\n{done.stdout}{done.stderr}", pytrace=False)


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


ALERT_NAMES = [rule["alert"] for rule in alert_rules()]


# --- alert rules -----------------------------------------------------------------------------


def test_alert_rules_pass_promtool_check(promtool: str) -> None:
    run(promtool, "check", "rules", ALERTS)


@pytest.mark.parametrize("tests_file", RULE_TESTS, ids=lambda path: path.name)
def test_alert_unit_tests_pass(promtool: str, tests_file: Path) -> None:
    run(promtool, "test", "rules", tests_file)


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for tests_file in RULE_TESTS:
        spec = yaml.safe_load(tests_file.read_text())
        # A file testing another rules file would prove nothing about ours.
        assert [(tests_file.parent / f).resolve() for f in spec["rule_files"]] == [ALERTS]
        for group in spec["tests"]:
            for case in group.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    assert sorted(set(ALERT_NAMES) - firing) == [], "alerts never shown firing"
    assert sorted(set(ALERT_NAMES) - silent) == [], "alerts never shown silent (exp_alerts: [])"
    assert sorted((firing | silent) - set(ALERT_NAMES)) == [], "tests of alerts that do not exist"


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    assert len(ALERT_NAMES) == len(set(ALERT_NAMES)), "duplicate alert names"
    for rule in alert_rules():
        name = rule["alert"]
        assert rule.get("labels", {}).get("severity") in SEVERITIES, name
        annotations = rule.get("annotations", {})
        assert annotations.get("summary", "").strip(), name
        assert annotations.get("description", "").strip(), name
        assert annotations.get("runbook_url") == RUNBOOK_BASE + name.lower(), name


def github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading: lower case, punctuation dropped, spaces -> -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_runbook_anchor_is_a_heading_and_every_alert_section_an_alert() -> None:
    headings = re.findall(r"^#{1,6} (.+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    anchors = {github_anchor(h) for h in headings}
    for rule in alert_rules():
        anchor = rule["annotations"]["runbook_url"].rpartition("#")[2]
        assert anchor in anchors, f"{rule['alert']}: no heading for #{anchor} in {RUNBOOKS.name}"
    # A section named like an alert that no longer exists is a stale runbook.
    sections = {h.strip() for h in headings if h.startswith("Keymint")}
    assert sorted(sections - set(ALERT_NAMES)) == []


def test_panels_the_runbooks_name_exist() -> None:
    text = " ".join(RUNBOOKS.read_text().split())  # quotes may wrap across lines
    titles = {p.get("title") for p in all_panels(load(DASHBOARD))} | {load(DASHBOARD)["title"]}
    named = re.findall(r'dashboard "([^"]+)"', text)
    assert named and sorted(set(named) - titles) == []


# --- dashboard -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load(DASHBOARD)


def test_dashboard_is_classic_json_with_fixed_uid(dashboard: dict[str, Any]) -> None:
    # The schema v2 resource has apiVersion/kind/spec; the sidecar file provider wants classic.
    assert "spec" not in dashboard and "apiVersion" not in dashboard
    assert dashboard["uid"] == "keymint-overview"
    assert dashboard["id"] is None  # Grafana assigns its own database id on import
    assert dashboard["title"] and "keymint" in dashboard["tags"]
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["time"]["from"].startswith("now-") and dashboard["refresh"]


def test_dashboard_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    namespace, role = variables["namespace"], variables["role"]
    assert "label_values(keymint_build_info, namespace)" in namespace["definition"]
    assert "label_values(keymint_keys_active" in role["definition"]
    assert role["definition"].endswith(", role)")
    # All = `.*`, which also matches a missing label (keymint outside Kubernetes).
    assert namespace["includeAll"] and namespace["allValue"] == ".*"
    assert role["includeAll"] and role["multi"] and role["allValue"] == ".*"
    for variable in (namespace, role):
        assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_panel_ids_are_unique_and_every_panel_uses_the_datasource_variable(
    dashboard: dict[str, Any],
) -> None:
    panels = list(all_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    assert all(isinstance(i, int) and i > 0 for i in ids)
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert rows == ["Capacity", "Keys", "Lifecycle", "Bybit", "Vault & scheduler", "API"]
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel["targets"], panel["id"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_panels_tile_the_grid_without_overlap(dashboard: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[x, y]}"
                cells[x, y] = panel["title"]


def selectors(expr: str) -> Iterator[tuple[str, str]]:
    """(metric name, its {matchers}) for every keymint_* vector selector in `expr`."""
    for match in re.finditer(r"\b(keymint_\w+)(\{[^}]*\})?", expr):
        yield match.group(1), match.group(2) or ""


def test_every_dashboard_query_filters_on_the_namespace(dashboard: dict[str, Any]) -> None:
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            for metric, matchers in selectors(target["expr"]):
                assert 'namespace=~"$namespace"' in matchers, (panel["title"], metric)


NOT_IN_NAME = re.compile(r"[^a-z0-9_]+")


def test_every_dashboard_query_parses(promtool: str, tmp_path: Path) -> None:
    # promtool has no "parse this expression" command; a recording rule per query makes
    # `check rules` parse them all, and the record name points at the panel on failure.
    queries = panel_queries(DASHBOARD, variables={"__rate_interval": "5m", "__interval": "1m"})
    assert len(queries) >= 30
    rules = [
        {"record": f"dashboard:{NOT_IN_NAME.sub('_', title.lower())}:{i}", "expr": expr}
        for i, (title, expr) in enumerate(queries)
    ]
    path = tmp_path / "dashboard_queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run(promtool, "check", "rules", path)


def test_panel_queries_leave_no_variable_behind() -> None:
    for title, expr in panel_queries(DASHBOARD):
        assert "$" not in expr, title
    assert ("Replicas", 'count by (version) (keymint_build_info{namespace=~".*"})') in (
        panel_queries(DASHBOARD)
    )


# --- metric names ----------------------------------------------------------------------------


def exported_names() -> list[set[str]]:
    """Per collector in keymint's registry, every series name it can expose (with suffixes).

    The registry's own index (private, but it is what the registry uses to refuse duplicate
    names): `collect()` would miss a family absent right now, such as the master key's expiry
    while the key is permanent, and a labelled family with no child yet.
    """
    return [set(names) for names in REGISTRY._collector_to_names.values()]


def test_alerts_and_dashboard_only_use_exported_metrics(dashboard: dict[str, Any]) -> None:
    exprs = [rule["expr"] for rule in alert_rules()]
    exprs += [t["expr"] for p in all_panels(dashboard) for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    used = {metric for expr in exprs for metric, _ in selectors(expr)}
    exported = exported_names()
    assert sorted(used - set().union(*exported)) == []
    # And the other way round: every metric keymint exports is on the dashboard or in an alert
    # (keymint_build_info feeds the namespace variable and the replica count).
    unused = [sorted(names) for names in exported if not names & used]
    assert unused == []
