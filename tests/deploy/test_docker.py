"""deploy/docker: what can be checked without a Docker engine (none runs here).

The Dockerfile is parsed into instructions per stage; the compose file is read as YAML and held
to the README's ports, the observability files and keymint's own devstack helpers.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import pytest
import yaml

from keymint import devstack

from .helmkit import ROOT

DOCKER = ROOT / "deploy" / "docker"
OBSERVABILITY = ROOT / "deploy" / "observability"

Instruction = tuple[str, str]  # (KEYWORD, arguments)


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """Stages, each a list of instructions; continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[list[Instruction]] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stages.append([])
        assert stages, f"instruction before FROM: {line}"
        stages[-1].append((keyword, args.strip()))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[list[Instruction]]:
    return parse_dockerfile((DOCKER / "Dockerfile").read_text())


def args_of(stage: list[Instruction], keyword: str) -> list[str]:
    return [args for kw, args in stage if kw == keyword]


def test_multi_stage_pinned_slim_311(stages: list[list[Instruction]]) -> None:
    assert len(stages) >= 2
    for stage in stages:
        (image,) = args_of(stage, "FROM")
        ref = image.split()[0]
        # A full version, never `latest`, `3.11` or `3.11-slim`.
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", ref), ref


def test_final_stage(stages: list[list[Instruction]]) -> None:
    final = stages[-1]
    (user,) = args_of(final, "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or gid.isdigit()), user
    # No compilers in the runtime image: nothing is installed there, only the venv copied in.
    text = " ".join(args for _, args in final)
    for tool in ("gcc", "build-essential", "apt-get install", "pip install", "g++", "make "):
        assert tool not in text, tool
    assert any(a.startswith("--from=") for a in args_of(final, "COPY"))
    entrypoint = json.loads(args_of(final, "ENTRYPOINT")[-1])
    cmd = json.loads(args_of(final, "CMD")[-1])
    assert entrypoint + cmd == ["keymint", "serve"]
    (healthcheck,) = args_of(final, "HEALTHCHECK")
    assert "/healthz" in healthcheck and "python" in healthcheck and "curl" not in healthcheck
    # The one-liner is valid Python.
    exec_form = json.loads(healthcheck[healthcheck.index("CMD") + 3 :])
    assert exec_form[:2] == ["python", "-c"]
    ast.parse(exec_form[2])
    labels = " ".join(args_of(final, "LABEL"))
    for key in ("title", "version", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert "8300" in args_of(final, "EXPOSE")


def test_chart_user_matches_image(stages: list[list[Instruction]]) -> None:
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "keymint" / "values.yaml").read_text())
    (user,) = args_of(stages[-1], "USER")
    assert int(user.split(":")[0]) == values["podSecurityContext"]["runAsUser"]


def test_installs_the_project_with_pip(stages: list[list[Instruction]]) -> None:
    build = " ".join(args for _, args in stages[0])
    assert "pip install /src" in build  # the project itself, as the README's pip install does
    for needed in ("pyproject.toml", "README.md", "service"):
        assert needed in " ".join(args_of(stages[0], "COPY"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return loaded


def host_ports(service: dict[str, Any]) -> set[int]:
    return {int(p.split(":")[-2]) for p in service.get("ports", [])}


def test_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"openbao", "bybit-sim", "keymint", "prometheus", "grafana", "seed"} <= set(services)
    for name, svc in services.items():
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), (name, image)
    assert services["bybit-sim"]["entrypoint"] == ["bybit-sim"]
    assert services["keymint"]["command"] == ["serve"]
    assert services["keymint"]["depends_on"]["seed"]["condition"] == (
        "service_completed_successfully"
    )


def test_compose_ports_match_readme(compose: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    services = compose["services"]
    for name, component in (
        ("keymint", "keymint"),
        ("openbao", "OpenBao dev server"),
        ("bybit-sim", "Bybit V5 simulator"),
    ):
        match = re.search(rf"^\| {re.escape(component)} \| `:(\d+)`", readme, re.M)
        assert match, component
        assert host_ports(services[name]) == {int(match.group(1))}, name
    assert services["keymint"]["environment"]["KEYMINT_PORT"] == "8300"
    assert "docker compose -f deploy/docker/compose.yaml up --build" in readme


def test_compose_prometheus_uses_the_alerts_file(compose: dict[str, Any]) -> None:
    prom = compose["services"]["prometheus"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in prom["volumes"])
    (rules_in_container,) = [c for h, c in mounts.items() if h.endswith("alerts.yaml")]
    host = next(h for h, c in mounts.items() if c == rules_in_container)
    assert (DOCKER / host).resolve() == (OBSERVABILITY / "alerts.yaml").resolve()
    config_host = next(h for h in mounts if h.endswith("prometheus.yml"))
    config = yaml.safe_load((DOCKER / config_host).read_text())
    assert config["rule_files"] == [rules_in_container]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "keymint"  # the alerts select up{job="keymint"}
    assert job["static_configs"][0]["targets"] == ["keymint:8300"]


def test_compose_grafana_provisions_the_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"])
    (dash_host,) = [h for h in mounts if h.endswith("dashboard.json")]
    assert (DOCKER / dash_host).resolve() == (OBSERVABILITY / "dashboard.json").resolve()
    prov_host = next(h for h, c in mounts.items() if c == "/etc/grafana/provisioning")
    provider = yaml.safe_load((DOCKER / prov_host / "dashboards" / "keymint.yaml").read_text())
    dash_dir = provider["providers"][0]["options"]["path"]
    assert mounts[dash_host].startswith(dash_dir + "/")
    datasource = yaml.safe_load(
        (DOCKER / prov_host / "datasources" / "prometheus.yaml").read_text()
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_compose_seed_uses_devstack(compose: dict[str, Any]) -> None:
    seed = compose["services"]["seed"]
    assert seed["entrypoint"] == ["python", "-c"]
    (script,) = seed["command"]
    tree = ast.parse(script)
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "devstack"
    }
    assert used == {"seed_simulator", "prepare_vault", "example_roles"}
    for name in used:
        assert callable(getattr(devstack, name))
    # The master key is pinned to keymint's fixed address; the roles file is the one keymint reads.
    keymint_ip = compose["services"]["keymint"]["networks"]["default"]["ipv4_address"]
    assert f'master_ips=["{keymint_ip}"]' in script
    roles_file = compose["services"]["keymint"]["environment"]["KEYMINT_ROLES_FILE"]
    assert roles_file in script
