"""keymint's image, run as the Helm chart runs it (UID 10001, read-only root filesystem, a tmpfs
at /tmp, no capabilities, no privilege escalation), on the host's network against a real
OpenBao and the simulator on loopback."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest
import yaml
from pybit.exceptions import FailedRequestError
from pybit.unified_trading import HTTP
from testcontainers.core.container import DockerContainer

from bybit_sim.control_client import SimControl
from containerkit import logs_of, start_container, stop_container
from keymint.devstack import ManagedProcess, free_port
from keymint.own_vault_policy import create_keymint_token
from stackkit import BOT_IP, BOT_RULES, answers, seed_deployment, wait_for

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("KEYMINT_TEST_IMAGE", "keymint:local")
CHART_VALUES = ROOT / "deploy" / "helm" / "keymint" / "values.yaml"


def chart_security() -> dict[str, Any]:
    values = yaml.safe_load(CHART_VALUES.read_text())
    context: dict[str, Any] = values["containerSecurityContext"]
    return context


class Running:
    def __init__(self, container: DockerContainer, url: str, secrets: list[str]) -> None:
        self.container, self.url, self.secrets = container, url, secrets

    def inspect(self) -> dict[str, Any]:
        wrapped = self.container.get_wrapped_container()
        wrapped.reload()
        return wrapped.attrs  # type: ignore[no-any-return]

    def run(self, *argv: str) -> tuple[int, str]:
        code, output = self.container.get_wrapped_container().exec_run(list(argv))
        return code, output.decode(errors="replace")


@pytest.fixture
def keymint_container(
    openbao: ManagedProcess, sim: SimControl, tmp_path: Path
) -> Iterator[Running]:
    root = hvac.Client(url=openbao.url, token=openbao.extra["root_token"])
    prefix = "km-image-" + os.urandom(3).hex()
    roles = tmp_path / "roles.yaml"
    master = seed_deployment(root, sim, prefix=prefix, roles_file=roles)
    token = create_keymint_token(root, prefix=prefix, policy_name=f"keymint-{prefix}")
    roles.chmod(0o644)  # read by UID 10001 through the bind mount
    port = free_port()
    security = chart_security()
    container = start_container(
        IMAGE,
        env={
            "KEYMINT_HOST": "127.0.0.1",
            "KEYMINT_PORT": str(port),
            "KEYMINT_VAULT_ADDR": openbao.url,
            "KEYMINT_VAULT_TOKEN": token,
            "KEYMINT_VAULT_PREFIX": prefix,
            "KEYMINT_ROLES_FILE": "/etc/keymint/roles.yaml",
            "KEYMINT_BYBIT_BASE_URL": sim.url,
            "KEYMINT_BYBIT_RATE_LIMIT_SCALE": "50",
        },
        volumes=[(str(roles), "/etc/keymint/roles.yaml", "ro")],
        tmpfs={"/tmp": "size=64m"},  # the chart's emptyDir, sizeLimit 64Mi
        user=f"{security['runAsUser']}:{security['runAsGroup']}",
        read_only=security["readOnlyRootFilesystem"],
        cap_drop=security["capabilities"]["drop"],
        security_opt=["no-new-privileges"] if not security["allowPrivilegeEscalation"] else [],
        privileged=security["privileged"],
        # The image's own check, asked every second instead of every 30 (as --health-interval).
        healthcheck={"test": [], "interval": 1_000_000_000},
    )
    running = Running(container, f"http://127.0.0.1:{port}", [token, master.api_secret])
    try:
        wait_for(lambda: answers(running.url + "/healthz"), timeout_s=60)
        yield running
    finally:
        logs = logs_of(container)
        stop_container(container)
        # Invariant 1 from outside: nothing the container printed holds a secret.
        for secret in running.secrets:
            assert secret not in logs
        (tmp_path / "keymint-container.log").write_text(logs)


def test_runs_as_the_chart_runs_it(keymint_container: Running) -> None:
    attrs = keymint_container.inspect()
    host = attrs["HostConfig"]
    assert attrs["Config"]["User"] == "10001:10001"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["NetworkMode"] == "host"
    assert "no-new-privileges" in host["SecurityOpt"]
    assert keymint_container.run("id", "-u") == (0, "10001\n")
    # Effective capabilities of keymint's own process: none.
    code, status = keymint_container.run("grep", "CapEff", "/proc/1/status")
    assert code == 0 and status.split()[1] == "0000000000000000", status
    code, _ = keymint_container.run("touch", "/opt/keymint/written")
    assert code != 0  # read-only root filesystem
    assert keymint_container.run("touch", "/tmp/written")[0] == 0


def test_healthz_sys_health_and_a_mint_whose_key_works_through_pybit(
    keymint_container: Running, openbao: ManagedProcess, sim: SimControl
) -> None:
    url = keymint_container.url
    assert httpx.get(url + "/healthz").status_code == 200
    health = httpx.get(url + "/v1/sys/health")
    assert health.status_code == 200, health.text
    root = hvac.Client(url=openbao.url, token=openbao.extra["root_token"])
    name = "bot-" + os.urandom(3).hex()
    root.sys.create_or_update_policy(name, BOT_RULES)
    bot = root.auth.token.create(policies=[name], ttl="10m")["auth"]["client_token"]
    keymint_container.secrets.append(bot)
    minted = httpx.post(url + "/v1/creds/spot-trader", headers={"X-Vault-Token": bot}, timeout=30)
    assert minted.status_code == 200, minted.text
    data = minted.json()["data"]
    keymint_container.secrets.append(data["api_secret"])
    session = HTTP(api_key=data["api_key"], api_secret=data["api_secret"], max_retries=1)
    session.endpoint = sim.url
    info = session.get_api_key_information()
    assert info["retCode"] == 0
    assert info["result"]["apiKey"] == data["api_key"]
    assert info["result"]["ips"] == [BOT_IP]
    # A revoked lease's key dies at Bybit.
    revoked = httpx.delete(
        f"{url}/v1/leases/{minted.json()['lease_id']}", headers={"X-Vault-Token": bot}, timeout=30
    )
    assert revoked.status_code == 200, revoked.text
    with pytest.raises(FailedRequestError):  # Bybit answers an unknown key with HTTP 401
        session.get_api_key_information()


def test_the_images_healthcheck_passes(keymint_container: Running) -> None:
    def healthy() -> bool:
        state = keymint_container.inspect()["State"]
        assert state["Status"] == "running", state
        return bool(state.get("Health", {}).get("Status") == "healthy")

    wait_for(healthy, timeout_s=60)
    health = keymint_container.inspect()["State"]["Health"]
    assert health["Log"][-1]["ExitCode"] == 0, health["Log"][-1]
    config = keymint_container.inspect()["Config"]["Healthcheck"]
    assert config["Test"] == ["CMD", "keymint", "healthcheck"]  # the image's, not ours


def test_no_test_or_dev_dependency_in_the_image(keymint_container: Running) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dev = {_name(req) for req in project["optional-dependencies"]["dev"]}
    code, out = keymint_container.run(
        "python",
        "-c",
        "import importlib.metadata as m, json;"
        "print(json.dumps(sorted({d.metadata['Name'].lower().replace('_', '-')"
        " for d in m.distributions()})))",
    )
    assert code == 0, out
    installed = set(json.loads(out))
    assert "keymint" in installed
    assert installed & dev == set()
    for tool in ("gcc", "cc", "make", "git", "curl"):
        assert keymint_container.run("sh", "-c", f"command -v {tool}")[0] != 0, tool


def _name(requirement: str) -> str:
    for stop in "<>=![; ":
        requirement = requirement.split(stop)[0]
    return requirement.lower().replace("_", "-")
