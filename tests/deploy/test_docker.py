"""deploy/docker, checked without a Docker engine (plain `make test`): the Dockerfile parsed into
instructions per stage, the compose file read as YAML and held to the README's ports, the
observability files and keymint's own devstack helpers; `keymint healthcheck` against a real
keymint. tests/containers builds and runs both for real (`make test-containers`)."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from typing import Any

import pytest
import yaml

from keymint import devstack
from stackkit import Stack

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
        elif not stages and keyword == "ARG":
            continue  # a global build argument, for FROM lines
        assert stages, f"instruction before FROM: {line}"
        stages[-1].append((keyword, args.strip()))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[list[Instruction]]:
    return parse_dockerfile((DOCKER / "Dockerfile").read_text())


def args_of(stage: list[Instruction], keyword: str) -> list[str]:
    return [args for kw, args in stage if kw == keyword]


def test_the_base_is_an_argument_defaulting_to_the_pinned_public_slim_image(
    stages: list[list[Instruction]],
) -> None:
    text = (DOCKER / "Dockerfile").read_text()
    (default,) = re.findall(r"^ARG BASE=(\S+)$", text, re.M)
    # A full version, never `latest`, `3.11` or `3.11-slim`.
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", default)
    assert len(stages) >= 2
    for stage in stages:
        (image,) = args_of(stage, "FROM")
        assert image.split()[0] == "${BASE}"


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
    assert json.loads(healthcheck[healthcheck.index("CMD") + 3 :]) == ["keymint", "healthcheck"]
    labels = " ".join(args_of(final, "LABEL"))
    for key in ("title", "version", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert "8300" in args_of(final, "EXPOSE")


def test_chart_user_matches_image(stages: list[list[Instruction]]) -> None:
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "keymint" / "values.yaml").read_text())
    (user,) = args_of(stages[-1], "USER")
    assert int(user.split(":")[0]) == values["podSecurityContext"]["runAsUser"]


def test_installs_the_project_with_pip_offline_from_wheels_when_given(
    stages: list[list[Instruction]],
) -> None:
    build = " ".join(args for _, args in stages[0])
    assert "pip install /src" in build  # from PyPI, as the README's pip install does
    assert "pip install --no-index --find-links /src/wheels keymint" in build
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    assert ignore[ignore.index("*") :][:6] == [
        "*",
        "!pyproject.toml",
        "!README.md",
        "!service/",
        "!wheels/",
        "**/__pycache__",
    ]


def _healthcheck(stack: Stack, **env: str) -> subprocess.CompletedProcess[str]:
    port = stack.url.rsplit(":", 1)[1]
    return subprocess.run(
        [devstack._script("keymint"), "healthcheck"],
        env={**os.environ, "KEYMINT_HOST": "127.0.0.1", "KEYMINT_PORT": port, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_healthcheck_command_answers_for_the_keymint_serving_here(stack: Stack) -> None:
    ok = _healthcheck(stack)
    assert ok.returncode == 0 and ok.stdout.strip() == f"{stack.url}/healthz: ok"
    # A wildcard listener is asked on loopback.
    assert _healthcheck(stack, KEYMINT_HOST="0.0.0.0").returncode == 0
    refused = _healthcheck(stack, KEYMINT_PORT=str(devstack.free_port()))
    assert refused.returncode == 1 and "Connection refused" in refused.stderr


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return loaded


def test_compose_services_on_the_host_network(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "openbao",
        "bybit-sim",
        "seed",
        "vault-setup",
        "keymint",
        "prometheus",
        "grafana",
    }
    for name, svc in services.items():
        # Public images by default, pinned; a local one only through the environment.
        image = re.fullmatch(r"\$\{([A-Z_]+):-([^}]+)\}", svc["image"])
        assert image, (name, svc["image"])
        assert ":" in image.group(2) and not image.group(2).endswith(":latest"), name
        # No bridge: the daemon runs without one (--bridge=none), so no ports to publish.
        assert svc["network_mode"] == "host" and "ports" not in svc and "networks" not in svc
    assert "networks" not in compose
    assert services["grafana"]["profiles"] == ["grafana"]
    assert services["bybit-sim"]["entrypoint"] == ["bybit-sim"]
    assert services["keymint"]["command"] == ["serve"]
    order = {name: svc.get("depends_on", {}) for name, svc in services.items()}
    assert order["vault-setup"]["seed"]["condition"] == "service_completed_successfully"
    assert order["keymint"]["vault-setup"]["condition"] == "service_completed_successfully"


def test_compose_listens_on_the_readmes_ports(compose: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    services = compose["services"]
    listening = {
        "keymint": services["keymint"]["environment"]["KEYMINT_PORT"],
        "openbao": re.search(
            r"-dev-listen-address=127\.0\.0\.1:(\d+)", " ".join(services["openbao"]["command"])
        ).group(1),
        "bybit-sim": services["bybit-sim"]["command"][-1],
    }
    for name, component in (
        ("keymint", "keymint"),
        ("openbao", "OpenBao dev server"),
        ("bybit-sim", "Bybit V5 simulator"),
    ):
        match = re.search(rf"^\| {re.escape(component)} \| `:(\d+)`", readme, re.M)
        assert match, component
        assert listening[name] == match.group(1), name
    assert services["keymint"]["environment"]["KEYMINT_HOST"] == "127.0.0.1"
    assert "--web.listen-address=127.0.0.1:9090" in services["prometheus"]["command"]
    assert "docker compose -p keymint -f deploy/docker/compose.yaml up --build" in readme


def test_compose_keymint_logs_in_with_the_approle_setup_makes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    keymint, setup = services["keymint"], services["vault-setup"]
    env = keymint["environment"]
    assert "KEYMINT_VAULT_TOKEN" not in env and env["KEYMINT_VAULT_AUTH_METHOD"] == "approle"
    assert setup["entrypoint"] == ["sh", "/deploy/vault/setup.sh"]
    assert "../vault:/deploy/vault:ro" in setup["volumes"]
    out = setup["environment"]["KEYMINT_APPROLE_DIR"]
    assert env["KEYMINT_VAULT_APPROLE_ROLE_ID_FILE"] == f"{out}/role-id"
    assert env["KEYMINT_VAULT_APPROLE_SECRET_ID_FILE"] == f"{out}/secret-id"
    assert setup["environment"]["KEYMINT_VAULT_AUTH"] == "approle"
    # The same volume, written by the set-up step as keymint's user, read-only to keymint.
    assert setup["user"] == keymint["user"] == "10001:10001"
    assert "seed:/var/lib/keymint" in setup["volumes"]
    assert keymint["volumes"] == ["seed:/var/lib/keymint:ro"]
    # As the chart runs it.
    assert keymint["read_only"] is True and keymint["cap_drop"] == ["ALL"]
    assert keymint["tmpfs"] == ["/tmp"]


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
    port = compose["services"]["keymint"]["environment"]["KEYMINT_PORT"]
    assert job["static_configs"][0]["targets"] == [f"127.0.0.1:{port}"]


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
    assert datasource["datasources"][0]["url"] == "http://127.0.0.1:9090"


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
    # On the host's network every caller is loopback: the master key and roles are pinned there.
    assert 'master_ips=["127.0.0.1"]' in script
    roles_file = compose["services"]["keymint"]["environment"]["KEYMINT_ROLES_FILE"]
    assert roles_file in script


# Package registries' hosts: the builds read the mirror from the machine's apt sources and PyPI
# through its pip configuration, so no committed file names one.
REGISTRY_HOSTS = re.compile(
    r"deb\.debian\.org|security\.debian\.org|ftp\.[a-z.]*debian\.org|pypi\.org|"
    r"pythonhosted\.org|registry\.npmjs\.org",
    re.I,
)


def test_no_committed_file_names_a_package_registry() -> None:
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    named = []
    for name in filter(None, tracked):
        path = ROOT / name
        if not path.is_file() or path.suffix in {".png", ".whl"}:
            continue
        text = path.read_text(errors="ignore")
        named += [f"{name}: {m.group(0)}" for m in REGISTRY_HOSTS.finditer(text)]
    assert named == []
