"""The Helm chart, rendered and linted by Helm's own Go SDK, every manifest schema-validated.

Rendering is offline (`helm template`): no cluster. Capabilities are passed as `helm template
--kube-version/--api-versions` would (see helmkit).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

import keymint
from keymint.engine.dynamic.role import DEFAULT_MAX_LEASE_TTL_S
from keymint.engine.roles_file import load_roles_file

from .helmkit import (
    CHART_DIR,
    CI_VALUES,
    CRD_KINDS,
    KUBE_VERSION,
    MONITORING_API,
    ROOT,
    by_kind,
    ci_values,
    load_chart,
    manifests,
    one,
    render,
    validate,
)

OBSERVABILITY = ROOT / "deploy" / "observability"


@pytest.fixture(scope="module")
def chart() -> helm.Chart:
    return load_chart()


def ci_render(chart: helm.Chart, path: Path) -> dict[str, str]:
    # The monitoring file is meant for clusters with the Prometheus Operator.
    apis = [MONITORING_API] if "monitoring" in path.name else None
    return render(chart, ci_values(path), api_versions=apis)


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    return dict(c)


def env(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def test_versions_agree(chart: helm.Chart) -> None:
    meta = chart.metadata
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["apiVersion"] == "v2"
    assert meta["appVersion"] == keymint.__version__ == pyproject["project"]["version"]


def test_ci_matrix_present() -> None:
    names = {p.name for p in CI_VALUES}
    assert {
        "scheduler-off-values.yaml",
        "single-replica-values.yaml",
        "networkpolicy-values.yaml",
        "monitoring-values.yaml",
        "approle-values.yaml",
        "roles-values.yaml",
    } <= names


@pytest.mark.parametrize(
    "values_file", [None, *CI_VALUES], ids=lambda p: p.name if p else "defaults"
)
def test_renders_and_validates(chart: helm.Chart, values_file: Path | None) -> None:
    rendered = ci_render(chart, values_file) if values_file else render(chart)
    docs = manifests(rendered)
    kinds = {d["kind"] for d in docs}
    assert {
        "Deployment",
        "Service",
        "ServiceAccount",
        "ConfigMap",
        "PodDisruptionBudget",
        "Pod",
    } <= kinds
    for doc in docs:
        validate(doc)  # raises kubernetes_validate.ValidationError naming the field
        assert doc["metadata"]["namespace"] == "trading"
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "keymint"
        assert labels["app.kubernetes.io/instance"] == "keymint"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "keymint-0.1.0"


@pytest.mark.parametrize(
    "values_file", [None, *CI_VALUES], ids=lambda p: p.name if p else "defaults"
)
def test_lint_clean(values_file: Path | None) -> None:
    values = ci_values(values_file) if values_file else None
    report = helm.lint(CHART_DIR, values, strict=True, kube_version=f"v{KUBE_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], report


def test_schema_refuses_misspelled_keys(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmError, match="replicaCont"):
        chart.validate_schema(helm.parse_set_string("replicaCont=3"))
    # Helm validates the schema on render too (`helm template --set replicaCont=3` fails).
    with pytest.raises(helm.HelmError, match="replicaCont"):
        render(chart, helm.parse_set_string("replicaCont=3"))
    with pytest.raises(helm.HelmError, match="tsl"):
        render(chart, {"tsl": {"enabled": False}})
    with pytest.raises(helm.HelmError):  # nested keys are strict too
        render(chart, {"vault": {"auth": {"kubernetes": {"rol": "x"}}}})
    with pytest.raises(helm.HelmError):  # and role bodies
        render(chart, {"roles": {"r": {"subaccounts": [1], "permissions": {}, "tll": "1h"}}})
    chart.validate_schema(chart.values)


def test_defaults_security_and_probes(chart: helm.Chart) -> None:
    docs = manifests(render(chart))
    deploy = one(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 2
    pod = deploy["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert isinstance(psc["runAsUser"], int) and psc["runAsUser"] > 0
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    c = container(docs)
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert any(v["name"] == "tmp" and "emptyDir" in v for v in pod["volumes"])
    assert c["resources"]["requests"] and c["resources"]["limits"]
    # TLS on by default: probes speak HTTPS on the named port.
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
    assert c["readinessProbe"]["httpGet"] == {
        "path": "/v1/sys/health",
        "port": "https",
        "scheme": "HTTPS",
    }
    e = env(c)
    assert e["KEYMINT_TLS_CERT_FILE"] == "/etc/keymint/tls/tls.crt"
    assert "KEYMINT_ALLOW_INSECURE_HTTP" not in e
    assert e["KEYMINT_VAULT_AUTH_METHOD"] == "kubernetes"
    assert e["KEYMINT_VAULT_KUBERNETES_ROLE"] == "keymint"
    assert e["KEYMINT_SCHEDULER_ENABLED"] == "true"
    assert e["KEYMINT_ROLES_FILE"] == "/etc/keymint/roles/roles.yaml"
    assert "KEYMINT_VAULT_TOKEN" not in e  # no secret in values, none in the manifest
    assert c["args"] == ["serve"]
    keys = [t["topologyKey"] for t in pod["topologySpreadConstraints"]]
    assert keys == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    assert one(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    svc = one(docs, "Service")
    assert svc["spec"]["ports"] == [
        {"name": "https", "port": 8300, "targetPort": "https", "protocol": "TCP"}
    ]
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    # Off by default.
    for kind in ("NetworkPolicy", "ServiceMonitor", "PrometheusRule", "Certificate"):
        assert not by_kind(docs, kind)
    # The helm test pod waits for readiness through the Service.
    (test_pod,) = by_kind(docs, "Pod")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert "https://keymint:8300/v1/sys/health" in test_pod["spec"]["containers"][0]["command"][2]


def test_tls_off_speaks_http_and_warns(chart: helm.Chart) -> None:
    rendered = render(chart, {"tls": {"enabled": False}})
    c = container(manifests(rendered))
    assert c["readinessProbe"]["httpGet"]["scheme"] == "HTTP"
    assert env(c)["KEYMINT_ALLOW_INSECURE_HTTP"] == "true"
    assert "WARNING: TLS is off" in rendered["keymint/templates/NOTES.txt"]


def test_notes(chart: helm.Chart) -> None:
    notes = render(chart, ci_values(CHART_DIR / "ci" / "roles-values.yaml"))[
        "keymint/templates/NOTES.txt"
    ]
    assert "https://keymint.trading.svc:8300/v1/creds/monitor" in notes
    assert "X-Vault-Token: $BOT_TOKEN" in notes
    assert "https://keymint.trading.svc:8300/metrics" in notes
    assert "203.0.113.7, 203.0.113.8" in notes
    assert "WARNING" not in notes
    off = render(chart, ci_values(CHART_DIR / "ci" / "scheduler-off-values.yaml"))
    assert (
        "WARNING: the scheduler is disabled on every replica" in off["keymint/templates/NOTES.txt"]
    )
    assert env(container(manifests(off)))["KEYMINT_SCHEDULER_ENABLED"] == "false"
    # Monitoring asked for on a cluster without the Prometheus Operator: skipped, and said so.
    missing = render(chart, {"metrics": {"serviceMonitor": {"enabled": True}}})
    assert "no\n         monitoring.coreos.com/v1 API" in missing["keymint/templates/NOTES.txt"]


def test_notes_give_this_releases_vault_setup_command(chart: helm.Chart) -> None:
    rendered = render(chart, {"serviceAccount": {"name": "bots"}, "vault": {"prefix": "desk-a"}})
    notes = rendered["keymint/templates/NOTES.txt"]
    command = notes[notes.index("KEYMINT_VAULT_KV_MOUNT=") : notes.index("deploy/vault/setup.sh")]
    assigned = dict(re.findall(r"(\w+)=(\S+)", command))
    assert assigned == {
        "KEYMINT_VAULT_KV_MOUNT": "secret",
        "KEYMINT_VAULT_PREFIX": "desk-a",
        "KUBERNETES_AUTH_MOUNT": "kubernetes",
        "KUBERNETES_ROLE": "keymint",
        "KEYMINT_SERVICE_ACCOUNT": "bots",
        "KEYMINT_NAMESPACE": "trading",
    }
    # The role is bound to the ServiceAccount the pods run as, and the script reads each name.
    account = one(manifests(rendered), "ServiceAccount")["metadata"]
    assert (account["name"], account["namespace"]) == ("bots", "trading")
    script = (ROOT / "deploy" / "vault" / "setup.sh").read_text()
    assert all(f"${{{name}:-" in script for name in assigned)


def test_rendered_roles_file_is_accepted_by_keymint(chart: helm.Chart, tmp_path: Path) -> None:
    docs = manifests(render(chart, ci_values(CHART_DIR / "ci" / "roles-values.yaml")))
    (cm,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "keymint-roles"]
    path = tmp_path / "roles.yaml"
    path.write_text(cm["data"]["roles.yaml"])
    loaded = load_roles_file(path, max_lease_ttl_s=DEFAULT_MAX_LEASE_TTL_S)
    assert set(loaded.roles) == {"spot-trader", "monitor"}
    assert set(loaded.static_roles) == {"market-maker"}
    # Roles without their own ips are pinned to the cluster's NAT egress.
    assert loaded.roles["spot-trader"].ips == ["203.0.113.7", "203.0.113.8"]
    assert loaded.static_roles["market-maker"].ips == ["203.0.113.7", "203.0.113.8"]
    assert loaded.roles["monitor"].ips == ["198.51.100.10"]
    assert loaded.roles["spot-trader"].ttl == 3600
    assert loaded.roles["spot-trader"].max_leases_per_caller == 4
    # The empty default is a valid roles file too.
    empty = manifests(render(chart))
    (cm,) = [d for d in by_kind(empty, "ConfigMap") if d["metadata"]["name"] == "keymint-roles"]
    path.write_text(cm["data"]["roles.yaml"])
    assert load_roles_file(path, max_lease_ttl_s=DEFAULT_MAX_LEASE_TTL_S).roles == {}


def test_capability_gate(chart: helm.Chart) -> None:
    values = ci_values(CHART_DIR / "ci" / "monitoring-values.yaml")
    without = manifests(render(chart, values))
    assert not by_kind(without, "ServiceMonitor") and not by_kind(without, "PrometheusRule")
    with_api = manifests(render(chart, values, api_versions=[MONITORING_API]))
    assert by_kind(with_api, "ServiceMonitor") and by_kind(with_api, "PrometheusRule")
    # The flag is needed as well as the capability.
    defaults = manifests(render(chart, api_versions=[MONITORING_API]))
    assert not by_kind(defaults, "ServiceMonitor") and not by_kind(defaults, "PrometheusRule")


def test_monitoring_objects(chart: helm.Chart) -> None:
    path = CHART_DIR / "ci" / "monitoring-values.yaml"
    docs = manifests(ci_render(chart, path))
    sm = one(docs, "ServiceMonitor")
    assert (sm["apiVersion"], sm["kind"]) in CRD_KINDS
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    assert sm["spec"]["jobLabel"] == "app.kubernetes.io/name"  # job="keymint", as the alerts expect
    assert sm["spec"]["selector"]["matchLabels"] == one(docs, "Service")["spec"]["selector"]
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["scheme"] == "https" and endpoint["port"] == "https"
    assert endpoint["path"] == "/metrics"
    assert endpoint["tlsConfig"]["serverName"] == "keymint.trading.svc"
    assert endpoint["tlsConfig"]["ca"] == {"secret": {"name": "keymint-ca", "key": "ca.crt"}}
    cert = one(docs, "Certificate")
    assert cert["spec"]["secretName"] == "keymint-tls"
    assert "keymint.trading.svc" in cert["spec"]["dnsNames"]
    assert cert["spec"]["issuerRef"]["name"] == "internal-ca"
    (dash,) = [
        d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")
    ]
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dash["metadata"]["annotations"] == {"grafana_folder": "Trading"}


def test_rules_and_dashboard_are_the_checked_files(chart: helm.Chart) -> None:
    """One source: files/ links deploy/observability/, and what Helm renders is byte-identical."""
    for name in ("alerts.yaml", "dashboard.json"):
        linked = CHART_DIR / "files" / name
        assert linked.is_symlink() and linked.resolve() == (OBSERVABILITY / name).resolve()
    alerts = (OBSERVABILITY / "alerts.yaml").read_text()
    dashboard = (OBSERVABILITY / "dashboard.json").read_text()
    rendered = render(
        chart, ci_values(CHART_DIR / "ci" / "monitoring-values.yaml"), api_versions=[MONITORING_API]
    )
    # PrometheusRule: the file verbatim (comments included) under `spec:`, indented by two.
    text = rendered["keymint/templates/prometheusrule.yaml"]
    body = text.split("\nspec:\n", 1)[1]
    lines = body.split("\n")
    assert all(line.startswith("  ") or not line for line in lines)
    # Undo Helm's `indent 2` (which indents blank lines too); the template adds one final newline.
    assert "\n".join(line[2:] for line in lines).removesuffix("\n") == alerts
    rule = yaml.safe_load(text)
    assert rule["spec"] == yaml.safe_load(alerts)
    # Dashboard ConfigMap: the data value is the file's exact text.
    docs = manifests(rendered)
    (dash,) = [
        d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")
    ]
    assert dash["data"]["keymint-overview.json"] == dashboard


def test_approle_and_agent_proxy(chart: helm.Chart) -> None:
    docs = manifests(render(chart, ci_values(CHART_DIR / "ci" / "approle-values.yaml")))
    c = container(docs)
    e = env(c)
    assert e["KEYMINT_VAULT_AUTH_METHOD"] == "approle"
    assert e["KEYMINT_VAULT_APPROLE_SECRET_ID_FILE"] == "/etc/keymint/approle/secret_id"
    assert e["KEYMINT_VAULT_CACERT"] == "/etc/keymint/vault-ca/ca.crt"
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    (approle,) = [v for v in pod["volumes"] if v["name"] == "approle"]
    assert approle["secret"]["secretName"] == "keymint-approle"
    # Missing the Secret's name is refused rather than rendered half-configured.
    with pytest.raises(helm.HelmError, match="secretIdSecret"):
        render(chart, {"vault": {"auth": {"method": "approle", "approle": {"roleId": "r"}}}})
    with pytest.raises(helm.HelmError, match=r"token\.secret\.name"):
        render(chart, {"vault": {"auth": {"method": "token"}}})

    agent = manifests(render(chart, ci_values(CHART_DIR / "ci" / "agent-proxy-values.yaml")))
    deploy = one(agent, "Deployment")
    # On the pod template, where the injector's webhook sees them; not on the Deployment.
    annotations = deploy["spec"]["template"]["metadata"]["annotations"]
    assert annotations["vault.hashicorp.com/agent-inject"] == "true"
    assert annotations["vault.hashicorp.com/agent-cache-enable"] == "true"
    assert annotations["vault.hashicorp.com/agent-cache-use-auto-auth-token"] == "true"
    assert not any(
        k.startswith("vault.hashicorp.com/") for k in deploy["metadata"].get("annotations", {})
    )
    assert env(container(agent))["KEYMINT_VAULT_ADDR"] == "http://127.0.0.1:8200"


def test_network_policy(chart: helm.Chart) -> None:
    docs = manifests(render(chart, ci_values(CHART_DIR / "ci" / "networkpolicy-values.yaml")))
    spec = one(docs, "NetworkPolicy")["spec"]
    sources = spec["ingress"][0]["from"]
    namespaces = {
        s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for s in sources
        if "namespaceSelector" in s
    }
    assert namespaces == {"trading-bots", "research", "monitoring"}
    egress_ports = {p["port"] for rule in spec["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 8200, 443}
    (vault_rule,) = [r for r in spec["egress"] if r["ports"][0]["port"] == 8200]
    assert vault_rule["to"] == [{"ipBlock": {"cidr": "10.20.0.0/24"}}]


def test_values_documented() -> None:
    """Every leaf of values.yaml carries a `## @param` line (bitnami's convention)."""
    text = (CHART_DIR / "values.yaml").read_text()
    documented = set(re.findall(r"## @param (\S+)", text))
    top = set(yaml.safe_load(text))
    for key in top:
        assert any(p == key or p.startswith(key + ".") for p in documented), key
