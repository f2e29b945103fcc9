"""deploy/docker/compose.yaml brought up for real on the host's network: OpenBao, the simulator,
the two set-up steps, keymint and Prometheus. A bot mints through keymint, its key works
through pybit, and Prometheus has scraped keymint's metrics; then the stack comes down."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pybit.unified_trading import HTTP

from containerkit import LOCAL_IMAGES, compose_command, docker_client
from keymint.devstack import port_is_free
from stackkit import answers, wait_for

from .test_keymint_image import ROOT

COMPOSE_FILE = ROOT / "deploy" / "docker" / "compose.yaml"
PORTS = {"OpenBao": 8200, "keymint": 8300, "simulator": 8900, "Prometheus": 9090}
KEYMINT = "http://127.0.0.1:8300"
PROMETHEUS = "http://127.0.0.1:9090"


class Compose:
    def __init__(self) -> None:
        self.project = f"keymint-test-{os.getpid()}"
        self.env = {**os.environ, **{k: os.environ.get(k, v) for k, v in LOCAL_IMAGES.items()}}
        self.base = [*compose_command(), "-p", self.project, "-f", str(COMPOSE_FILE)]

    def __call__(self, *args: str, timeout_s: float = 300) -> str:
        done = subprocess.run(
            [*self.base, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        assert done.returncode == 0, f"compose {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def containers(self) -> list[Any]:
        client = docker_client()
        try:
            return list(
                client.containers.list(
                    all=True, filters={"label": f"com.docker.compose.project={self.project}"}
                )
            )
        finally:
            client.close()


@pytest.fixture(scope="module")
def compose() -> Iterator[Compose]:
    taken = [f"{name} :{port}" for name, port in PORTS.items() if not port_is_free(port)]
    assert not taken, f"the compose stack listens on the README's ports, in use: {taken}"
    stack = Compose()
    try:
        stack("up", "-d", "--no-build")
        wait_for(lambda: answers(KEYMINT + "/v1/sys/health"), timeout_s=120)
        yield stack
    except BaseException:
        print(stack("logs", "--no-color", timeout_s=60))
        raise
    finally:
        stack("down", "-v", "--remove-orphans", timeout_s=120)
        assert stack.containers() == []


def _seed_output(compose: Compose) -> dict[str, str]:
    exports = {}
    for line in compose("logs", "--no-color", "seed").splitlines():
        _, _, text = line.partition("| ")
        if text.startswith("export "):
            name, _, value = text.removeprefix("export ").strip().partition("=")
            exports[name] = value
    return exports


def test_the_stack_comes_up_as_documented(compose: Compose) -> None:
    states = {
        c.labels["com.docker.compose.service"]: (c.status, c.attrs["State"].get("ExitCode"))
        for c in compose.containers()
    }
    running = {"openbao", "bybit-sim", "keymint", "prometheus"}
    assert {s for s, (status, _) in states.items() if status == "running"} == running
    assert states["seed"] == ("exited", 0) and states["vault-setup"] == ("exited", 0)
    assert "grafana" not in states  # behind its profile: no image for it here
    for container in compose.containers():
        assert container.attrs["HostConfig"]["NetworkMode"] == "host"
    (keymint,) = [
        c for c in compose.containers() if c.labels["com.docker.compose.service"] == "keymint"
    ]
    # The image's own HEALTHCHECK, asked more often: prometheus waited for it to pass.
    assert keymint.attrs["State"]["Health"]["Status"] == "healthy"
    assert keymint.attrs["Config"]["Healthcheck"]["Test"] == ["CMD", "keymint", "healthcheck"]
    host = keymint.attrs["HostConfig"]
    assert keymint.attrs["Config"]["User"] == "10001:10001"
    assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"]
    # keymint holds no root token: it logs in with the AppRole setup.sh made.
    env = dict(e.split("=", 1) for e in keymint.attrs["Config"]["Env"])
    assert "KEYMINT_VAULT_TOKEN" not in env
    assert env["KEYMINT_VAULT_AUTH_METHOD"] == "approle"


def test_a_bot_mints_and_prometheus_scrapes_keymint(compose: Compose) -> None:
    bot = _seed_output(compose)["BOT_TOKEN"]
    minted = httpx.post(
        KEYMINT + "/v1/creds/spot-trader", headers={"X-Vault-Token": bot}, timeout=30
    )
    assert minted.status_code == 200, minted.text
    data = minted.json()["data"]
    session = HTTP(api_key=data["api_key"], api_secret=data["api_secret"], max_retries=1)
    session.endpoint = "http://127.0.0.1:8900"
    assert session.get_api_key_information()["result"]["apiKey"] == data["api_key"]

    # What keymint counts now, Prometheus must come to have scraped.
    exposed = httpx.get(KEYMINT + "/metrics").text
    minted_so_far = sum(
        sample.value
        for family in text_string_to_metric_families(exposed)
        if family.name == "keymint_mints"
        for sample in family.samples
        if sample.name == "keymint_mints_total" and sample.labels.get("role") == "spot-trader"
    )
    assert minted_so_far >= 1

    def scraped() -> bool:
        answer = httpx.get(
            PROMETHEUS + "/api/v1/query",
            params={"query": 'sum(keymint_mints_total{job="keymint",role="spot-trader"})'},
        ).json()
        result = answer["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) >= minted_so_far

    wait_for(scraped, timeout_s=60)
    up = httpx.get(PROMETHEUS + "/api/v1/query", params={"query": 'up{job="keymint"}'}).json()
    assert [r["value"][1] for r in up["data"]["result"]] == ["1"]
    # The alert rules are the shipped file, loaded.
    rules = httpx.get(PROMETHEUS + "/api/v1/rules").json()["data"]["groups"]
    assert rules and all(group["file"].endswith("alerts.yaml") for group in rules)
