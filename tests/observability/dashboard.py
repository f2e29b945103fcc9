"""The PromQL behind deploy/observability/dashboard.json, with Grafana's variables filled in.

Grafana substitutes `$namespace`, `$role`, `$__rate_interval`... before it sends a query; this
does the same so a test can hand the queries to promtool (syntax) or to a live Prometheus
(data). `from observability.dashboard import panel_queries`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

# What Grafana sends with "All" selected (both variables' allValue is `.*`, which also matches
# series without a namespace label, i.e. keymint outside Kubernetes). `$__rate_interval` is
# Grafana's max(4 x scrape interval, step + scrape interval): 1m for a 15 s scrape.
LIVE_VARIABLES: dict[str, str] = {
    "namespace": ".*",
    "role": ".*",
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

# $name, ${name} and ${name:format} (the deprecated [[name]] is not used by this dashboard).
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def load(dashboard_path: Path | str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(dashboard_path).read_text())
    return data


def all_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and the panels folded inside collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def substitute(expr: str, variables: Mapping[str, str]) -> str:
    """`expr` with every variable replaced; KeyError names a variable nobody defined."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return variables[name]

    return _VARIABLE.sub(value, expr)


def panel_queries(
    dashboard_path: Path | str, *, variables: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """(panel title, expr ready for Prometheus) for every query target of every panel.

    `variables` overrides or adds to LIVE_VARIABLES, e.g. {"__rate_interval": "30s"}.
    """
    values = {**LIVE_VARIABLES, **(variables or {})}
    return [
        (panel.get("title", ""), substitute(target["expr"], values))
        for panel in all_panels(load(dashboard_path))
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
