"""Rendering and validating the chart through Helm's own Go SDK (helm-python-sdk, no binary).

`Chart.render` in helm-python-sdk 0.2.2 exposes name/namespace/revision only, but the native
`helm_render` call it wraps also decodes `kube_version` and `api_versions` (Helm's
`--kube-version` and `--api-versions`). We pass them through the same native call, so the
`.Capabilities.APIVersions.Has "monitoring.coreos.com/v1"` gate is exercised by Helm itself.
`test_capability_gate` fails loudly if a later release stops honouring them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml
from helm_python import _native

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "deploy" / "helm" / "keymint"
CI_VALUES = sorted((CHART_DIR / "ci").glob("*.yaml"))
# Newest minor kubernetes-validate 1.37 ships that is a year old: what a platform team runs.
KUBE_VERSION = "1.33.0"
MONITORING_API = "monitoring.coreos.com/v1"
# Custom resources: kubernetes-validate only knows built-in kinds. They are checked by the
# assertions in test_chart.py instead (apiVersion, kind, fields the operators need).
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("cert-manager.io/v1", "Certificate"),
}

# Helm's loader writes "found symbolic link in path" to stderr on every load: files/ links
# deploy/observability/ on purpose (one source for the rules and dashboard).


def load_chart() -> helm.Chart:
    return helm.Chart.load(CHART_DIR)


def ci_values(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    return dict(loaded or {})


def render(
    chart: helm.Chart,
    values: dict[str, Any] | None = None,
    *,
    api_versions: list[str] | None = None,
    release: str = "keymint",
    namespace: str = "trading",
) -> dict[str, str]:
    """Template path -> rendered text, as `helm template --kube-version --api-versions`."""
    opts: dict[str, Any] = {
        "name": release,
        "namespace": namespace,
        "kube_version": f"v{KUBE_VERSION}",
        "is_install": True,
    }
    if api_versions:
        opts["api_versions"] = api_versions
    rendered: dict[str, str] = json.loads(
        _native.call_string("helm_render", chart._raw(), json.dumps(values or {}), json.dumps(opts))
    )
    return rendered


def manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every Kubernetes object rendered (NOTES.txt is text, not a manifest)."""
    docs: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def validate(doc: dict[str, Any]) -> None:
    """Strict schema validation (unknown fields are errors) for built-in kinds."""
    if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
        return
    kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
