"""The benchmark harness: OpenBao, the Bybit simulator and `keymint serve` as separate processes
on loopback, the seven measurements of issue 7 and the Vault calls per operation, one table and
one JSON file.

Every figure sits beside a reference measured in the same run (a raw Vault round trip, the
simulator's own create time, what Bybit's rate limit allows), because absolute times on shared
machines drift. Speed is reported here, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import hvac
import yaml
from pydantic import SecretStr

from bench import failover
from bench.vault_audit import AuditLog, Calls, start_openbao_audited
from bybit_sim.control_client import SeededMaster, SimControl
from keymint.bybit.client import BybitClient
from keymint.devstack import (
    ManagedProcess,
    start_keymint,
    start_openbao_dev,
    start_openbao_raft,
    start_simulator,
)
from keymint.own_vault_policy import create_keymint_token

LOOPBACK = "127.0.0.1"
ROLE = "bench"
PERMISSIONS = {"Spot": ["SpotTrade"]}
# A policy on every keymint path: the bench stands in for bots and an operator alike.
ALL_RULES = 'path "keymint/*" { capabilities = ["create","read","update","delete","list","sudo"] }'
RESULTS_DIR = Path(__file__).parent / "results"
# Every background job a day apart (the leader lock renews every lease_s / 3): in a Vault-call
# window, only the operation under test may call Vault. Idempotency-purge (every 300 s, fixed)
# cannot be moved, and no measurement using this keymint lives that long.
QUIET_JOBS = {
    "KEYMINT_EXPIRY_INTERVAL_S": "86400",
    "KEYMINT_RECONCILE_INTERVAL_S": "86400",
    "KEYMINT_STATIC_ROTATION_INTERVAL_S": "86400",
    "KEYMINT_LEADER_LEASE_S": "86400",
}


@dataclass
class Sizes:
    """How big each measurement is; the smoke test shrinks them to seconds."""

    mint_samples: int = 100
    fleet: int = 200
    fleet_scale: float = 20.0
    revoke_leases: int = 1000
    revoke_scale: float = 100.0
    recon_subaccounts: int = 200
    recon_keys_per_sub: int = 20
    recon_scale: float = 20.0
    metrics_leases: int = 5000
    metrics_subaccounts: int = 250
    sustained_scale: float = 100.0
    ramp_rates: tuple[float, ...] = (25, 50, 75, 100, 150, 200)
    ramp_step_s: float = 15.0
    sustained_s: float = 150.0
    # Seeding the metrics measurement through the API stops after this long.
    metrics_seed_budget_s: float = 60.0
    # 0 below: scaled from the sizes above (20, 1,000, 50 and 60 s by default), so a Sizes
    # shrunk before these fields existed shrinks them too.
    calls_samples: int = 0  # min(20, mint_samples)
    idle_leases: int = 0  # revoke_leases
    idle_subaccounts: int = 0  # idle_leases / 20
    idle_s: float = 0.0  # min(60 s, sustained_s)
    ha_bots: int = 3  # bots minting through the HA failover

    def __post_init__(self) -> None:
        self.calls_samples = self.calls_samples or min(20, self.mint_samples)
        self.idle_leases = self.idle_leases or self.revoke_leases
        self.idle_subaccounts = self.idle_subaccounts or max(1, self.idle_leases // 20)
        self.idle_s = self.idle_s or min(60.0, self.sustained_s)


@dataclass
class Row:
    metric: str
    value: float
    unit: str
    reference: str
    target: str
    met: bool | None
    note: str = ""


@dataclass
class World:
    """The shared servers; each measurement starts its own keymint on its own KV prefix and
    simulated master, so measurements cannot disturb each other's state or rate windows."""

    # Timed measurements run on `bao`; Vault calls are counted on `counted`, whose audit
    # device (every request HMAC'd and written to a file) would slow what is timed.
    bao: ManagedProcess
    counted: ManagedProcess
    sim: ManagedProcess
    log_dir: Path
    audit: AuditLog
    keymints: list[ManagedProcess] = field(default_factory=list)

    def vault(self, server: ManagedProcess | None = None) -> hvac.Client:
        server = server or self.bao
        return hvac.Client(url=server.url, token=server.extra["root_token"])

    def control(self) -> SimControl:
        return SimControl(self.sim.url, timeout_s=60.0)

    def token(self, server: ManagedProcess | None = None) -> str:
        client = self.vault(server)
        client.sys.create_or_update_policy("bench-all", ALL_RULES)
        token: str = client.auth.token.create(policies=["bench-all"], ttl="2h")["auth"][
            "client_token"
        ]
        return token


@contextmanager
def world(log_dir: Path | None = None) -> Iterator[World]:
    """OpenBao and the simulator, stopped (with every keymint started on them) at the end."""
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="keymint-bench-"))
    bao = start_openbao_dev(log_dir / "timed")
    counted = start_openbao_audited(log_dir / "counted")
    # Bybit's per-IP limit (600 requests / 5 s) is not scaled with the per-UID limits; every
    # client here is 127.0.0.1, so lift it or a scaled run would be banned for ten minutes.
    sim = start_simulator(
        log_dir,
        config={"ip_limit_requests": "100000000"},
        extra_args=("--log-level", "warning"),
    )
    w = World(
        bao=bao,
        counted=counted,
        sim=sim,
        log_dir=log_dir,
        audit=AuditLog(Path(counted.extra["audit_log"])),
    )
    try:
        yield w
    finally:
        for mp in [*w.keymints, sim, bao, counted]:
            mp.stop()


@dataclass
class Keymint:
    proc: ManagedProcess
    prefix: str
    master: SeededMaster
    token: str
    # keymint's own: the shipped policy for its prefix, as deployed.
    vault_token: str

    @property
    def url(self) -> str:
        return self.proc.url

    @property
    def pid(self) -> int:
        return self.proc.proc.pid

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"X-Vault-Token": token or self.token}


def seed(w: World, subaccounts: int) -> SeededMaster:
    with w.control() as control:
        return control.seed(subaccounts, master_ips=[LOOPBACK])


def set_sim_scale(w: World, scale: float) -> None:
    with w.control() as control:
        control.configure(rate_limit_scale=scale)


def start_km(
    w: World,
    master: SeededMaster,
    *,
    scale: float,
    role: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    prefix: str | None = None,
    default_jobs: bool = False,
    counted: bool = False,
    openbao: ManagedProcess | None = None,
) -> Keymint:
    """`keymint serve` on its own prefix, its rate-limit scale matching the simulator's; on the
    audited OpenBao when its Vault calls are `counted`, on `openbao` when given.

    With `default_jobs`, every background job keeps keymint's own interval, as in production;
    otherwise reconciliation is pushed a day away."""
    prefix = prefix or "bench-" + secrets.token_hex(4)
    server = openbao or (w.counted if counted else w.bao)
    vault = w.vault(server)
    vault.secrets.kv.v2.create_or_update_secret(
        path=f"{prefix}/config/master",
        mount_point="secret",
        secret={
            "api_key": master.api_key,
            "api_secret": master.api_secret,
            "master_uid": master.master_uid,
        },
    )
    roles_file = w.log_dir / f"roles-{prefix}.yaml"
    spec = {
        "subaccounts": [int(s) for s in master.subaccounts],
        "permissions": PERMISSIONS,
        "ips": [LOOPBACK],
        "ttl": "1h",
        "max_ttl": "2h",
        **(role or {}),
    }
    roles_file.write_text(yaml.safe_dump({"roles": {ROLE: spec}}))
    set_sim_scale(w, scale)
    vault_token = create_keymint_token(vault, prefix=prefix, policy_name=f"keymint-{prefix}")
    log_dir = w.log_dir / prefix
    proc = start_keymint(
        log_dir,
        env={
            "KEYMINT_VAULT_ADDR": server.url,
            "KEYMINT_VAULT_TOKEN": vault_token,
            "KEYMINT_VAULT_PREFIX": prefix,
            "KEYMINT_ROLES_FILE": str(roles_file),
            "KEYMINT_BYBIT_BASE_URL": w.sim.url,
            "KEYMINT_BYBIT_RATE_LIMIT_SCALE": str(scale),
            # Nothing in a measurement should be disturbed by a sweep it did not ask for.
            **({} if default_jobs else {"KEYMINT_RECONCILE_INTERVAL_S": "86400"}),
            "KEYMINT_LOG_LEVEL": "WARNING",
            **(env or {}),
        },
    )
    w.keymints.append(proc)
    return Keymint(
        proc=proc, prefix=prefix, master=master, token=w.token(server), vault_token=vault_token
    )


def stop_km(w: World, km: Keymint) -> None:
    km.proc.stop()
    w.keymints.remove(km.proc)


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set since it started."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank), of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


async def mint(
    http: httpx.AsyncClient, km: Keymint, *, token: str | None = None, ttl: str | None = None
) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    resp = await http.post(
        f"{km.url}/v1/creds/{ROLE}",
        headers=km.headers(token),
        json={"ttl": ttl} if ttl else None,
    )
    return time.perf_counter() - started, resp


def direct_client(w: World, master: SeededMaster, scale: float) -> BybitClient:
    """keymint's own Bybit client, straight at the simulator: the reference for Bybit's time."""
    return BybitClient(
        w.sim.url,
        master.api_key,
        SecretStr(master.api_secret),
        rate_limit_scale=scale,
        key_cap_ret_codes=[10001],
    )


# --- 1. mint overhead ------------------------------------------------------------------------


async def measure_mint_overhead(w: World, sizes: Sizes) -> list[Row]:
    n = sizes.mint_samples
    # Pacing would add Bybit's queue to keymint's time: scale so the pacer never waits.
    scale = 1000.0
    subs = (n + 5) // 20 + 2
    master = seed(w, subs)
    km = start_km(w, master, scale=scale)
    async with httpx.AsyncClient(timeout=60) as http:
        for _ in range(5):  # warm-up: connections, authz cache, first-call imports
            await mint(http, km)
        before = vault_ops(await http.get(f"{km.url}/metrics"))
        mint_s = []
        for _ in range(n):
            took, resp = await mint(http, km)
            resp.raise_for_status()
            mint_s.append(took)
        after = vault_ops(await http.get(f"{km.url}/metrics"))
    # Where a mint's time goes, by keymint's own Vault metrics (ms per mint, by op); the
    # audit log's count of its calls is the "Vault calls per cold mint" row.
    calls_per_mint = {
        op: round((after[op][0] - before.get(op, (0, 0))[0]) / n, 2)
        for op in sorted(after)
        if after[op][0] > before.get(op, (0, 0))[0]
    }
    time_per_mint = {
        op: f"{ms((after[op][1] - before.get(op, (0, 0))[1]) / n):g}ms"
        for op in sorted(after)
        if after[op][0] > before.get(op, (0, 0))[0]
    }
    # The simulator's own create time, with keymint's client from this process, on a master
    # of its own so that neither its rate windows nor its key counts touch keymint's.
    ref_master = seed(w, n // 20 + 1)
    create_s = []
    async with direct_client(w, ref_master, scale) as bybit:
        for i in range(n):
            started = time.perf_counter()
            await bybit.create_sub_api_key(
                ref_master.subaccounts[i // 20],
                note=f"ref:{i}",
                permissions=PERMISSIONS,
                read_only=False,
                ips=[LOOPBACK],
            )
            create_s.append(time.perf_counter() - started)
    vault_s = raw_vault_round_trips(w, n)
    stop_km(w, km)
    sim_med = statistics.median(create_s)
    vault_med = statistics.median(vault_s)
    over_med = statistics.median(mint_s) - sim_med
    over_p99 = pct(mint_s, 99) - sim_med
    ratio = over_med / vault_med
    ref = f"KV write+read {ms(vault_med)} ms; sim create {ms(sim_med)} ms"
    return [
        Row("mint overhead median", ms(over_med), "ms", ref, "", None),
        Row("mint overhead p99", ms(over_p99), "ms", ref, "", None),
        Row(
            "mint overhead / Vault round trip",
            round(ratio, 2),
            "x",
            ref,
            "<= 2",
            ratio <= 2,
            f"mint median {ms(statistics.median(mint_s))} ms, {n} sequential mints; "
            f"keymint's own Vault calls per mint: {calls_per_mint}; "
            f"Vault time per mint (keymint's metrics): {time_per_mint}",
        ),
    ]


def vault_ops(resp: httpx.Response) -> dict[str, tuple[float, float]]:
    """(count, seconds) of keymint's Vault calls per operation, from its /metrics."""
    found: dict[str, list[float]] = {}
    for line in resp.text.splitlines():
        for suffix, slot in (("_count", 0), ("_sum", 1)):
            head = f"keymint_vault_request_duration_seconds{suffix}{{"
            if line.startswith(head):
                op = line.split('operation="', 1)[1].split('"', 1)[0]
                found.setdefault(op, [0.0, 0.0])[slot] = float(line.rsplit(" ", 1)[1])
    return {op: (v[0], v[1]) for op, v in found.items()}


def raw_vault_round_trips(w: World, n: int) -> list[float]:
    """One KV v2 write + read of a lease-sized record, from this process with hvac."""
    client = w.vault()
    record = {"key": "x" * 24, "note": "n" * 40, "payload": "p" * 400}
    took = []
    for i in range(n):
        started = time.perf_counter()
        client.secrets.kv.v2.create_or_update_secret(
            path=f"bench-raw/{i}", secret=record, mount_point="secret"
        )
        client.secrets.kv.v2.read_secret_version(
            path=f"bench-raw/{i}", mount_point="secret", raise_on_deleted_version=False
        )
        took.append(time.perf_counter() - started)
    return took


# --- 2. fleet start (and 6. memory during it) -----------------------------------------------


async def _fleet(w: World, km: Keymint, n: int) -> tuple[list[float], list[httpx.Response], float]:
    """n bots, each with its own token (a cold authz cache, as at a real fleet start), at once."""
    tokens = [w.token() for _ in range(n)]
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        started = time.perf_counter()
        results = await asyncio.gather(*(mint(http, km, token=t) for t in tokens))
        wall = time.perf_counter() - started
    return [r[0] for r in results], [r[1] for r in results], wall


async def wait_until(cond: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout_s:.0f}s")
        await asyncio.sleep(0.2)


async def measure_fleet(w: World, sizes: Sizes) -> list[Row]:
    n, scale = sizes.fleet, sizes.fleet_scale
    rows: list[Row] = []
    # (a) A warm pool of n: n pooled + n leased keys after the refill, at 20 keys each.
    master = seed(w, (2 * n) // 20 + 2)
    km = start_km(
        w,
        master,
        scale=scale,
        role={"warm_pool": n},
        env={"KEYMINT_EXPIRY_INTERVAL_S": "1", "KEYMINT_MINT_QUEUE_WAIT_S": "600"},
    )
    async with httpx.AsyncClient(timeout=60) as metrics:

        async def pool_full() -> bool:
            # The leader's sweep refills the pool and reports its size.
            return await warm_pool_keys(metrics, km) >= n

        fill_started = time.perf_counter()
        await wait_until(pool_full, 60 + 3 * n / scale, "warm pool fill")
        fill_s = time.perf_counter() - fill_started
    took, resps, _ = await _fleet(w, km, n)
    errors = sum(r.status_code != 200 for r in resps)
    p99 = pct(took, 99)
    rows.append(
        Row(
            f"fleet start, warm pool of {n}: p50 time to key",
            ms(statistics.median(took)),
            "ms",
            f"pool filled in {fill_s:.1f}s at scale {scale:g}",
            "",
            None,
        )
    )
    rows.append(
        Row(
            f"fleet start, warm pool of {n}: p99 time to key",
            ms(p99),
            "ms",
            f"{errors} errors",
            "< 1000 ms, 0 errors",
            p99 < 1.0 and errors == 0,
        )
    )
    rss_a = peak_rss_mb(km.pid)
    stop_km(w, km)

    # (b) No pool: every key waits its turn behind Bybit's 1 create/s (x scale).
    master = seed(w, n // 20 + 2)
    km = start_km(w, master, scale=scale, env={"KEYMINT_MINT_QUEUE_WAIT_S": "600"})
    took, resps, wall = await _fleet(w, km, n)
    errors = sum(r.status_code != 200 for r in resps)
    statuses = Counter(r.status_code for r in resps)
    first_error = next((r.text[:160] for r in resps if r.status_code != 200), "")
    surfaced_10006 = sum("10006" in r.text for r in resps if r.status_code != 200)
    with w.control() as control:
        log = [
            r
            for r in control.requests("/v5/user/create-sub-api")
            if r.get("uid") == master.master_uid or r.get("apiKey") == master.api_key
        ]
    sim_10006 = sum(r.get("retCode") == 10006 for r in log)
    ok_ts = sorted(r["ts_ms"] / 1000 for r in log if r.get("retCode") == 0)
    per_window = max(1, int(1 * scale))
    # Steady-state rate: the keys after the first window's burst, over the time they took.
    span = ok_ts[-1] - ok_ts[0] if len(ok_ts) > 1 else 0.0
    if len(ok_ts) > per_window and span > 0:
        rate = (len(ok_ts) - per_window) / span
    else:  # a fleet no bigger than one window (the smoke test's): keys over wall time
        rate = len(ok_ts) / wall
    fraction = rate / scale
    rows.append(
        Row(
            f"fleet start, no pool ({n} bots): keys/s vs Bybit ceiling",
            round(fraction, 3),
            "of ceiling",
            f"{rate:.2f} keys/s vs {scale:g}/s (1/s x scale {scale:g}); wall {wall:.1f}s",
            ">= 0.95, 0 errors, 0 x 10006",
            fraction >= 0.95 and errors == 0 and surfaced_10006 == 0,
            f"{errors} errors; 10006: {sim_10006} at the simulator, {surfaced_10006} to bots; "
            f"HTTP {dict(statuses)} {first_error}",
        )
    )
    rss_b = peak_rss_mb(km.pid)
    stop_km(w, km)
    rss = max(rss_a, rss_b)
    rows.append(
        Row(
            "peak RSS during fleet start",
            round(rss, 1),
            "MB",
            f"warm {rss_a:.1f} MB, no pool {rss_b:.1f} MB",
            "< 200 MB",
            rss < 200,
        )
    )
    return rows


# --- 3. revocation -------------------------------------------------------------------------


async def measure_revocation(w: World, sizes: Sizes) -> list[Row]:
    n, scale = sizes.revoke_leases, sizes.revoke_scale
    master = seed(w, n // 20 + 2)
    # Minting runs with the expiry job off (a day's interval), so that every lease has expired
    # before a second keymint, with a fast expiry job, starts on the same prefix: what is timed
    # is revocation alone, not revocation racing the mints.
    quiet = {"KEYMINT_EXPIRY_INTERVAL_S": "86400", "KEYMINT_LEADER_LEASE_S": "3"}
    km = start_km(w, master, scale=scale, env={**quiet, "KEYMINT_MINT_QUEUE_WAIT_S": "600"})
    sem = asyncio.Semaphore(32)
    async with httpx.AsyncClient(timeout=120) as http:

        async def one() -> httpx.Response:
            async with sem:
                return (await mint(http, km, ttl="1s"))[1]

        resps = await asyncio.gather(*(one() for _ in range(n)))
    failed = sum(r.status_code != 200 for r in resps)
    stop_km(w, km)
    await asyncio.sleep(1.5)  # every 1 s lease is now past its end
    fast = {"KEYMINT_EXPIRY_INTERVAL_S": "0.5", "KEYMINT_LEADER_LEASE_S": "3"}
    km = start_km(w, master, scale=scale, env=fast, prefix=km.prefix)
    started = time.perf_counter()  # from keymint ready: its start-up is not revocation
    async with httpx.AsyncClient(timeout=60) as http:

        async def no_leases() -> bool:
            # keymint's API, not its KV layout: a moved record must not read as "revoked".
            resp = await http.get(
                f"{km.url}/v1/leases", params={"role": ROLE, "limit": 1}, headers=km.headers()
            )
            resp.raise_for_status()
            return not resp.json()["data"]["keys"]

        async def keys_gone() -> bool:
            # Polled at the simulator, not through keymint: listing leases reads every record,
            # and that Vault load would be the bench's, not revocation's.
            with w.control() as control:
                keys = control.state()["keys"]
            return not any(k["uid"] in master.subaccounts for k in keys)

        await wait_until(keys_gone, 600, "deletion of the expired leases' keys")
        await wait_until(no_leases, 60, "revocation of expired leases")
    took = time.perf_counter() - started
    stop_km(w, km)
    minted = n - failed
    allowed = minted / (5 * scale)
    return [
        Row(
            f"revoke {minted} expired leases: share of the delete ceiling",
            round(allowed / took, 3),
            "of ceiling",
            f"{took:.2f}s; delete-sub-api limit allows {allowed:.2f}s (5/s x scale {scale:g})",
            ">= 0.9",
            allowed / took >= 0.9,
            f"expiry job every 0.5s; {failed} mints failed",
        )
    ]


# --- 4. reconciliation ---------------------------------------------------------------------


async def measure_reconcile(w: World, sizes: Sizes) -> list[Row]:
    subs, per_sub, scale = sizes.recon_subaccounts, sizes.recon_keys_per_sub, sizes.recon_scale
    master = seed(w, subs)
    # The keys are made straight at the simulator with the master key (foreign to keymint,
    # but listed and counted all the same): 4,000 mints through keymint would take minutes.
    set_sim_scale(w, 1000)
    sem = asyncio.Semaphore(16)
    async with direct_client(w, master, 1000) as bybit:

        async def fill(uid: str) -> None:
            async with sem:
                for i in range(per_sub):
                    await bybit.create_sub_api_key(
                        uid,
                        note=f"foreign:{i}",
                        permissions=PERMISSIONS,
                        read_only=False,
                        ips=[LOOPBACK],
                    )

        await asyncio.gather(*(fill(uid) for uid in master.subaccounts))
    km = start_km(w, master, scale=scale)
    async with httpx.AsyncClient(timeout=600) as http:
        started = time.perf_counter()
        resp = await http.post(f"{km.url}/v1/reconcile", headers=km.headers())
        took = time.perf_counter() - started
    resp.raise_for_status()
    warnings = resp.json().get("warnings") or []
    stop_km(w, km)
    allowed = subs / (10 * scale)
    fraction = allowed / took
    return [
        Row(
            f"reconcile {subs} sub-accounts x {per_sub} keys: share of the list ceiling",
            round(fraction, 3),
            "of ceiling",
            f"{took:.2f}s; sub-apikeys limit allows {allowed:.2f}s (10/s x scale {scale:g})",
            ">= 0.9",
            fraction >= 0.9,
            f"{len(warnings)} sub-account errors; keys created at the simulator directly",
        )
    ]


# --- 5. metrics (and 6. memory during it) ---------------------------------------------------


async def measure_metrics(w: World, sizes: Sizes) -> list[Row]:
    wanted, subs = sizes.metrics_leases, sizes.metrics_subaccounts
    master = seed(w, subs)
    # Seeded by a keymint of its own, stopped before the measured one starts on the same
    # prefix: the minting would otherwise be in the peak RSS and the first refresh's time.
    seeder = start_km(
        w, master, scale=SEED_SCALE, env={**QUIET_JOBS, "KEYMINT_MINT_QUEUE_WAIT_S": "600"}
    )
    seeded = await mint_leases(seeder, wanted, budget_s=sizes.metrics_seed_budget_s)
    stop_km(w, seeder)
    n = len(seeded.lease_ids)
    if n == 0:
        raise RuntimeError(f"no lease could be minted to seed /metrics: {seeded.errors}")
    km = start_km(
        w,
        master,
        scale=20,
        prefix=seeder.prefix,
        env={"KEYMINT_EXPIRY_INTERVAL_S": "2"},
    )
    async with httpx.AsyncClient(timeout=120) as http:
        needle = f'keymint_keys_active{{role="{ROLE}"}} {float(n)}'

        async def counted() -> bool:
            return needle in (await http.get(f"{km.url}/metrics")).text

        # The first refresh pass runs one interval after start: timed here from outside.
        refresh_started = time.perf_counter()
        await wait_until(counted, 600, "state gauges counting the seeded leases")
        first_refresh = time.perf_counter() - refresh_started
        render, size = [], 0
        for _ in range(20):
            started = time.perf_counter()
            resp = await http.get(f"{km.url}/metrics")
            render.append(time.perf_counter() - started)
            size = len(resp.content)
    refresh_s = await time_refresh(w, km)
    rss = peak_rss_mb(km.pid)
    stop_km(w, km)
    return [
        Row(
            f"/metrics scrape, {n} leases on {subs} sub-accounts",
            ms(statistics.median(render)),
            "ms",
            f"{size / 1024:.1f} KiB; p99 of 20 {ms(pct(render, 99))} ms",
            "",
            None,
            seeded.describe(wanted),
        ),
        Row(
            "leader's sweep pass (expiry, pools, state gauges)",
            round(refresh_s, 2),
            "s",
            f"first gauges seen after {first_refresh:.1f}s (interval 2s)",
            "",
            None,
            "timed in the bench process: keymint's Sweep.run on the same KV, nothing due",
        ),
        Row("peak RSS during metrics", round(rss, 1), "MB", "", "< 200 MB", rss < 200),
    ]


async def time_refresh(w: World, km: Keymint) -> float:
    """One pass of the leader's sweep (keymint's code) against the same KV prefix, timed here;
    with nothing due it only reads the records and computes the gauges."""
    from keymint import wiring
    from keymint.observability.logging import configure_logging
    from keymint.settings import Settings

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg,unused-ignore]
        vault_addr=w.bao.url,
        vault_token=SecretStr(km.vault_token),
        vault_prefix=km.prefix,
        roles_file=w.log_dir / f"roles-{km.prefix}.yaml",
        bybit_base_url=w.sim.url,
        bybit_rate_limit_scale=20.0,
        scheduler_enabled=False,
    )
    configure_logging(fmt="console", level="WARNING")
    services = await wiring.start(settings)
    try:
        await services.sweep.run(services.leader.fence())  # warms the record cache and roles
        started = time.perf_counter()
        await services.sweep.run(services.leader.fence())
        return time.perf_counter() - started
    finally:
        await services.stop()


# --- 7. sustained mixed load ---------------------------------------------------------------


@dataclass
class LoadResult:
    rate: float
    ops: int
    errors: int
    p50_s: float
    p99_s: float
    by_op: dict[str, int]
    first_errors: list[str]


IN_FLIGHT = 128


async def run_load(
    km: Keymint, http: httpx.AsyncClient, rate: float, seconds: float, live: list[str]
) -> LoadResult:
    """Open-loop mixed traffic at `rate` ops/s: 10% mint, 10% revoke, 40% renew, 40% lookup
    (bots renew and look up far more often than they start). Revokes take the oldest lease, so
    the live set, and with it the sub-accounts' key counts, stays level."""
    mix = [
        "mint",
        "lookup",
        "renew",
        "lookup",
        "renew",
        "revoke",
        "lookup",
        "renew",
        "lookup",
        "renew",
    ]
    latencies: list[float] = []
    errors = 0
    by_op: dict[str, int] = {}
    tasks: list[asyncio.Task[None]] = []
    first_errors: list[str] = []

    # Leases with a lookup or renew in flight: a revoke never takes one, or the bench itself
    # would make the 404s it counts as errors.
    busy: Counter[str] = Counter()

    # Requests in flight at once: past this an open-loop client only queues in its own
    # connection pool, whose bookkeeping grows with the queue until the client itself, not
    # keymint, is the bottleneck. Time spent waiting here still counts in the latency.
    in_flight = asyncio.Semaphore(IN_FLIGHT)

    async def op(kind: str) -> None:
        started = time.perf_counter()
        async with in_flight:
            await send(kind, started)

    async def send(kind: str, started: float) -> None:
        nonlocal errors
        headers = km.headers()
        idle = [lease for lease in live if not busy[lease]]
        if kind == "revoke" and not idle:
            kind = "lookup"
        if kind == "mint" or not live:
            kind = "mint"
            resp = await http.post(f"{km.url}/v1/creds/{ROLE}", headers=headers)
            if resp.status_code == 200:
                live.append(resp.json()["lease_id"])
        elif kind == "revoke":
            lease = idle[0]  # the oldest idle one
            live.remove(lease)
            resp = await http.delete(f"{km.url}/v1/leases/{lease}", headers=headers)
        else:
            lease = live[secrets.randbelow(len(live))]
            busy[lease] += 1
            try:
                if kind == "renew":
                    url = f"{km.url}/v1/leases/{lease}/renew"
                    resp = await http.post(url, headers=headers)
                else:
                    resp = await http.get(f"{km.url}/v1/leases/{lease}", headers=headers)
            finally:
                busy[lease] -= 1
        latencies.append(time.perf_counter() - started)
        by_op[kind] = by_op.get(kind, 0) + 1
        if resp.status_code not in (200, 202):
            errors += 1
            first_errors.append(f"{kind} {resp.status_code} {resp.text[:120]}")

    started = time.perf_counter()
    i = 0
    while (now := time.perf_counter() - started) < seconds:
        due = i / rate
        if due > now:
            await asyncio.sleep(due - now)
        tasks.append(asyncio.create_task(op(mix[i % len(mix)])))
        i += 1
    await asyncio.gather(*tasks, return_exceptions=False)
    return LoadResult(
        rate,
        len(latencies),
        errors,
        statistics.median(latencies),
        pct(latencies, 99),
        by_op,
        first_errors[:2],
    )


async def measure_sustained(w: World, sizes: Sizes) -> list[Row]:
    scale = sizes.sustained_scale
    master = seed(w, 20)
    km = start_km(w, master, scale=scale)
    live: list[str] = []
    # Idle connections are dropped before uvicorn's 5 s keep-alive would close them under a
    # request in flight (a reset there is the client's race, not keymint's answer).
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400, keepalive_expiry=2.0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        for _ in range(40):  # a standing set of leases to renew, look up and revoke
            _, resp = await mint(http, km)
            resp.raise_for_status()
            live.append(resp.json()["lease_id"])
        # Ramp: the highest step with p99 under 250 ms and no errors is the sustained rate.
        best = sizes.ramp_rates[0]
        ramp: list[LoadResult] = []
        for rate in sizes.ramp_rates:
            step = await run_load(km, http, rate, sizes.ramp_step_s, live)
            ramp.append(step)
            if step.p99_s >= 0.25 or step.errors:
                break
            best = rate
        result = await run_load(km, http, best, sizes.sustained_s, live)
    stop_km(w, km)
    ramp_note = ", ".join(
        f"{r.rate:g}/s p99 {ms(r.p99_s)}ms {r.errors} errors {r.first_errors}" for r in ramp
    )
    return [
        Row(
            f"sustained mixed load, {sizes.sustained_s:g}s",
            best,
            "ops/s",
            f"p50 {ms(result.p50_s)} ms, p99 {ms(result.p99_s)} ms; {result.errors} errors",
            ">= 200 ops/s at p99 < 250 ms, 0 errors",
            best >= 200 and result.p99_s < 0.25 and result.errors == 0,
            f"scale {scale:g}; {result.ops} ops {result.by_op}; ramp: {ramp_note}",
        )
    ]


# --- 8. Vault calls per operation, and an idle replica's, from OpenBao's audit log ----------

# A Bybit pacing that never waits: seeding hundreds of leases through the API stays quick.
SEED_SCALE = 1000.0


@dataclass
class Seeded:
    lease_ids: list[str]
    errors: list[str]
    seconds: float
    out_of_time: bool

    def describe(self, wanted: int) -> str:
        got = len(self.lease_ids)
        text = f"{got} leases minted through POST /v1/creds in {self.seconds:.1f}s"
        if got < wanted:
            why = "the seeding time budget ran out" if self.out_of_time else "mints failed"
            text += f" (of {wanted} wanted: {why})"
        if self.errors:
            text += f"; {len(self.errors)} mint errors, first {self.errors[:2]}"
        return text


async def mint_leases(
    km: Keymint, n: int, *, budget_s: float | None = None, concurrency: int = 32
) -> Seeded:
    """n leases through keymint's API, `concurrency` at a time, the only way to make state
    whose layout keymint alone owns. No mint starts after `budget_s`; lease ids stay opaque."""
    deadline = None if budget_s is None else time.monotonic() + budget_s
    lease_ids: list[str] = []
    errors: list[str] = []
    tickets = iter(range(n))
    out_of_time = False
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=600) as http:

        async def worker() -> None:
            nonlocal out_of_time
            for _ in tickets:
                if deadline is not None and time.monotonic() > deadline:
                    out_of_time = True
                    return
                _, resp = await mint(http, km)
                if resp.status_code == 503:
                    # keymint says "retry" (e.g. Bybit's answer lost in transit, no key left):
                    # a bot would, once; seeding is set-up, not the measurement.
                    _, resp = await mint(http, km)
                if resp.status_code == 200:
                    lease_ids.append(resp.json()["lease_id"])
                else:
                    errors.append(f"{resp.status_code} {resp.text[:120]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Seeded(lease_ids, errors, time.perf_counter() - started, out_of_time)


def path_shape(key: str, prefix: str) -> str:
    """An audit entry's "operation path" with the run's KV prefix and ids (lease keys,
    sub-account uids) folded, so that the same call on different leases adds up."""
    op, _, path = key.partition(" ")
    parts = []
    for part in path.split("/"):
        if part == prefix:
            part = "<prefix>"
        elif len(part) >= 20 or (len(part) >= 6 and any(c.isdigit() for c in part)):
            part = "*"
        parts.append(part)
    return f"{op} {'/'.join(parts)}"


def per_op_shapes(windows: list[Calls], prefix: str, per: float | None = None) -> str:
    """Calls by shape of path, divided by `per` (by default the number of windows, one
    operation each)."""
    shapes: Counter[str] = Counter()
    for calls in windows:
        for key, count in calls.by_path.items():
            shapes[path_shape(key, prefix)] += count
    divisor = per or len(windows) or 1
    listed = ", ".join(f"{k}: {round(v / divisor, 2):g}" for k, v in shapes.most_common())
    return "{" + listed + "}"


def median_of(values: list[int]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def calls_row(metric: str, windows: list[Calls], target: int, prefix: str, extra: str) -> Row:
    """A Vault-calls row: the median total, its split, and the figure without the caller's
    authorisation (which keymint caches per token for KEYMINT_AUTHZ_CACHE_TTL_S)."""
    totals = [c.total for c in windows]
    total = median_of(totals)
    no_auth = median_of([c.total - c.auth for c in windows])
    cached = sum(c.auth == 0 for c in windows)
    ref = (
        f"KV {median_of([c.kv for c in windows]):g} + auth {median_of([c.auth for c in windows]):g}"
        f" + other {median_of([c.other for c in windows]):g} (medians)"
    )
    return Row(
        metric,
        total,
        "calls",
        ref,
        f"<= {target}",
        total <= target,
        f"median of {len(windows)}, one fresh lease each, one token "
        f"(min {min(totals, default=0)}, max {max(totals, default=0)}); "
        f"excluding caller auth calls: {no_auth:g}; "
        f"{cached} of {len(windows)} with no auth call (authz cache warm); "
        f"per op: {per_op_shapes(windows, prefix)}{extra}",
    )


async def warm_pool_keys(http: httpx.AsyncClient, km: Keymint) -> float:
    for line in (await http.get(f"{km.url}/metrics")).text.splitlines():
        if line.startswith(f'keymint_warm_pool_keys{{role="{ROLE}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def bybit_creates(w: World, master: SeededMaster) -> int:
    with w.control() as control:
        return sum(
            r.get("retCode") == 0
            for r in control.requests("/v5/user/create-sub-api")
            if r.get("uid") == master.master_uid or r.get("apiKey") == master.api_key
        )


async def measure_vault_calls(w: World, sizes: Sizes) -> list[Row]:
    n = sizes.calls_samples
    # One keymint, every job a day away: its n cold mints, then renew and revoke of each lease.
    master = seed(w, (n + 1) // 20 + 2)
    km = start_km(w, master, scale=SEED_SCALE, env=QUIET_JOBS, counted=True)
    cold: list[Calls] = []
    renew: list[Calls] = []
    revoke: list[Calls] = []
    leases: list[str] = []
    async with httpx.AsyncClient(timeout=60) as http:
        # Outside any window: connections, first-call imports, keymint's start-up reads.
        (await mint(http, km))[1].raise_for_status()
        for _ in range(n):
            async with w.audit.window() as calls:
                _, resp = await mint(http, km)
            resp.raise_for_status()
            leases.append(resp.json()["lease_id"])
            cold.append(calls)
        for lease in leases:
            async with w.audit.window() as calls:
                resp = await http.post(f"{km.url}/v1/leases/{lease}/renew", headers=km.headers())
            resp.raise_for_status()
            renew.append(calls)
        for lease in leases:
            async with w.audit.window() as calls:
                resp = await http.delete(f"{km.url}/v1/leases/{lease}", headers=km.headers())
            resp.raise_for_status()
            revoke.append(calls)
    stop_km(w, km)
    warm, warm_prefix, warm_note = await _warm_hand_outs(w, n)
    return [
        calls_row("Vault calls per cold mint", cold, 4, km.prefix, ""),
        calls_row("Vault calls per warm hand-out", warm, 3, warm_prefix, warm_note),
        calls_row("Vault calls per renew", renew, 3, km.prefix, ""),
        calls_row("Vault calls per revoke", revoke, 4, km.prefix, ""),
    ]


async def _warm_hand_outs(w: World, n: int) -> tuple[list[Calls], str, str]:
    """n hand-outs from a full warm pool, with no refill in between.

    The pool is filled by one keymint (refill and gauges every 0.5 s), which is then stopped; a
    second keymint on the same prefix, every job a day away, hands the keys out. Its pool
    only empties, so every hand-out is from the pool and no refill pass is in a window (the
    leader's sweep refills pools, at the expiry interval)."""
    size = n + 1  # one warm-up hand-out
    master = seed(w, size // 20 + 2)
    role = {"warm_pool": size}
    filler = start_km(
        w,
        master,
        scale=SEED_SCALE,
        role=role,
        env={**QUIET_JOBS, "KEYMINT_EXPIRY_INTERVAL_S": "0.5"},
        counted=True,
    )
    async with httpx.AsyncClient(timeout=60) as http:

        async def full() -> bool:
            return await warm_pool_keys(http, filler) >= size

        await wait_until(full, 60 + size, "warm pool fill")
    stop_km(w, filler)
    km = start_km(
        w, master, scale=SEED_SCALE, role=role, env=QUIET_JOBS, prefix=filler.prefix, counted=True
    )
    windows: list[Calls] = []
    async with httpx.AsyncClient(timeout=60) as http:
        (await mint(http, km))[1].raise_for_status()
        created_before = bybit_creates(w, master)
        for _ in range(n):
            async with w.audit.window() as calls:
                _, resp = await mint(http, km)
            resp.raise_for_status()
            windows.append(calls)
        created = bybit_creates(w, master) - created_before
    stop_km(w, km)
    note = f"; pool of {size} filled first; {created} keys created at Bybit meanwhile"
    return windows, km.prefix, note


async def measure_idle(w: World, sizes: Sizes) -> list[Row]:
    n, subs, idle_s = sizes.idle_leases, sizes.idle_subaccounts, sizes.idle_s
    master = seed(w, subs)
    up = time.monotonic()
    # Production's job intervals: what an idle replica costs Vault is what they make it cost.
    km = start_km(
        w,
        master,
        scale=SEED_SCALE,
        env={"KEYMINT_MINT_QUEUE_WAIT_S": "600"},
        default_jobs=True,
        counted=True,
    )
    seeded = await mint_leases(km, n)
    if seeded.errors:
        raise RuntimeError(f"seeding {n} leases: {seeded.describe(n)}")
    # The log is never quiet here (the jobs run throughout): the window is wall-clock time.
    start = w.audit.offset()
    started = time.monotonic()
    await asyncio.sleep(idle_s)
    end = w.audit.offset()
    took = time.monotonic() - started
    uptime = time.monotonic() - up
    stop_km(w, km)
    calls = w.audit.count(start, end)
    per_min = calls.total * 60 / took
    ref = (
        f"KV {calls.kv * 60 / took:.0f} + auth {calls.auth * 60 / took:.0f} + other "
        f"{calls.other * 60 / took:.0f} per min"
    )
    shapes = per_op_shapes([calls], km.prefix, per=took / 60)
    return [
        Row(
            f"idle replica, {n:,} leases on {subs} sub-accounts",
            round(per_min, 1),
            "calls/min",
            ref,
            "<= 600 calls/min",
            per_min <= 600,
            f"{calls.total} Vault calls in {took:.0f}s idle, keymint's default job intervals; "
            f"jobs minutes apart (reconcile, idempotency purge) are not amortised in: keymint "
            f"was up {uptime:.0f}s in all; "
            f"{seeded.describe(n)}; per minute: {shapes}",
        )
    ]


# --- 9. HA failover ----------------------------------------------------------------------


async def measure_ha_failover(w: World, sizes: Sizes) -> list[Row]:
    """Bots minting through keymint on a 3-node OpenBao raft cluster while its active node is
    killed, then its successor sealed (bench/failover.py)."""
    cluster = start_openbao_raft(w.log_dir / "ha-cluster", nodes=3)
    try:
        master = seed(w, 2)
        km = start_km(
            w,
            master,
            scale=SEED_SCALE,
            openbao=cluster.wait_until_settled(),
            env={
                "KEYMINT_VAULT_ADDR": cluster.addr,
                # The one reconciliation below is the only clean-up, and it may take any orphan.
                "KEYMINT_SCHEDULER_ENABLED": "false",
                "KEYMINT_RECONCILE_GRACE_S": "0",
            },
        )
        failures: list[failover.Answer] = []

        def run() -> list[failover.Phase]:
            with (
                failover.HealthWatch(cluster) as watch,
                failover.MintLoops(km.url, ROLE, km.token, bots=sizes.ha_bots) as bots,
            ):
                phases = failover.drill(cluster, bots, watch)
            failures.extend(a for a in [*bots.mints, *bots.revokes] if a.status != 200)
            return phases

        phases = await asyncio.to_thread(run)
        async with httpx.AsyncClient(timeout=120) as http:
            resp = await http.post(f"{km.url}/v1/reconcile", headers=km.headers())
            resp.raise_for_status()
            orphans = resp.json()["data"]["totals"]["orphans_deleted"]
            leased = await http.get(
                f"{km.url}/v1/leases", params={"limit": 1000}, headers=km.headers()
            )
            leased.raise_for_status()
        stop_km(w, km)
    finally:
        cluster.stop()
    owned = {lease.rsplit("-", 1)[1] for lease in leased.json()["data"]["keys"]}
    with w.control() as control:
        keys = [k for k in control.state()["keys"] if k["uid"] in master.subaccounts]
    leaked = sum(k["note"].split(":", 1)[-1] not in owned for k in keys)
    not_503 = Counter(a.status for a in failures if a.status != 503)
    rows = []
    for phase in phases:
        lost = "active node SIGKILLed" if phase.how == "kill" else "active node sealed"
        outage = phase.outage.end - phase.outage.start
        inside = phase.inside
        rows += [
            Row(
                f"HA failover, {lost}: time to first mint after election",
                ms(phase.time_to_first_mint_s),
                "ms",
                f"no active node for {outage:.2f}s (health polled every 20 ms)",
                "",
                None,
                f"{len(inside)} mints sent and answered while no node was active, "
                f"{sum(m.status == 200 for m in inside)} of them succeeded",
            ),
            Row(
                f"HA failover, {lost}: mints unavailable",
                round(phase.unavailable_s, 2),
                "s",
                f"from the node {'reaped' if phase.how == 'kill' else 'sealed'} to the first mint",
                "",
                None,
            ),
        ]
    succeeded_inside = sum(m.status == 200 for p in phases for m in p.inside)
    tried_inside = sum(len(p.inside) for p in phases)
    rows += [
        Row(
            "HA failover: mints that succeeded while no node was active",
            succeeded_inside,
            "mints",
            f"of {tried_inside} sent and answered then; {len(failures)} failed answers in all, "
            f"not a 503: {dict(not_503)}",
            "0, every failure a 503",
            succeeded_inside == 0 and not not_503,
        ),
        Row(
            "HA failover: keys leaked after one reconciliation",
            leaked,
            "keys",
            f"{len(keys)} keys at Bybit, {orphans} orphans deleted by the reconciliation",
            "0",
            leaked == 0,
        ),
    ]
    return rows


# --- the run -------------------------------------------------------------------------------

MEASUREMENTS: list[tuple[str, Callable[[World, Sizes], Awaitable[list[Row]]]]] = [
    ("mint overhead", measure_mint_overhead),
    ("fleet start", measure_fleet),
    ("revocation", measure_revocation),
    ("reconciliation", measure_reconcile),
    ("metrics", measure_metrics),
    ("sustained load", measure_sustained),
    ("vault calls", measure_vault_calls),
    ("idle replica", measure_idle),
    ("ha failover", measure_ha_failover),
]


async def run_all(w: World, sizes: Sizes, only: list[str] | None = None) -> list[Row]:
    rows: list[Row] = []
    for name, fn in MEASUREMENTS:
        if only and name not in only:
            continue
        started = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            got = await fn(w, sizes)
        except Exception as exc:  # one broken measurement must not hide the others
            got = [Row(name, float("nan"), "", "", "", False, f"failed: {exc!r}")]
        rows += got
        print(render(got), file=sys.stderr, flush=True)  # progress, in case a later one hangs
        print(f"[bench] {name} took {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return rows


def render(rows: list[Row]) -> str:
    head = ("metric", "value", "reference (same run)", "target", "met?")
    lines = [
        (
            r.metric,
            f"{r.value:g} {r.unit}".strip(),
            r.reference,
            r.target or "-",
            "-" if r.met is None else ("yes" if r.met else "NO"),
        )
        for r in rows
    ]
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
    out = [" | ".join(h.ljust(wd) for h, wd in zip(head, widths, strict=True))]
    out.append("-+-".join("-" * wd for wd in widths))
    out += [" | ".join(c.ljust(wd) for c, wd in zip(x, widths, strict=True)) for x in lines]
    notes = [f"  {r.metric}: {r.note}" for r in rows if r.note]
    return "\n".join(out + (["", "notes:", *notes] if notes else []))


def machine() -> str:
    cores = os.cpu_count() or 0
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node() or 'host'}-{cores}c-{mem_gb:.0f}g"


def measurement_name(text: str) -> str:
    """`vault-calls`, `vault_calls` and `Vault Calls` all name "vault calls"."""
    return " ".join(text.lower().replace("-", " ").replace("_", " ").split())


def size_override(text: str) -> tuple[str, Any]:
    """`FIELD=VALUE` for a Sizes field, VALUE parsed as the field's default is typed
    (a tuple as comma-separated numbers)."""
    name, sep, value = text.partition("=")
    defaults = Sizes()
    if not sep or name not in {f.name for f in dataclasses.fields(Sizes)}:
        fields = ", ".join(f.name for f in dataclasses.fields(Sizes))
        raise argparse.ArgumentTypeError(f"{text!r}: want FIELD=VALUE, FIELD one of {fields}")
    default = getattr(defaults, name)
    try:
        if isinstance(default, tuple):
            return name, tuple(float(v) for v in value.split(","))
        return name, type(default)(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a {type(default).__name__}") from None


def parse_args(argv: list[str]) -> argparse.Namespace:
    names = [name for name, _ in MEASUREMENTS]
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="keymint's benchmark: every measurement, or those named.",
        epilog=f"measurements: {', '.join(repr(n) for n in names)}",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="measurements to run (dashes for spaces)"
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run this one (repeatable)"
    )
    parser.add_argument(
        "--size",
        action="append",
        default=[],
        type=size_override,
        metavar="FIELD=VALUE",
        help="override a size, e.g. --size calls_samples=5 (repeatable)",
    )
    parser.add_argument("--list", action="store_true", help="print the measurements and exit")
    args = parser.parse_args(argv)
    args.only = [measurement_name(n) for n in [*args.names, *args.only]]
    unknown = [n for n in args.only if n not in names]
    if unknown:
        parser.error(f"unknown measurement(s) {unknown}; choose from {names}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.list:
        print("\n".join(name for name, _ in MEASUREMENTS))
        return 0
    only: list[str] | None = args.only or None
    sizes = Sizes(**dict(args.size))
    started = time.perf_counter()
    with world() as w:
        rows = asyncio.run(run_all(w, sizes, only))
    elapsed = time.perf_counter() - started
    print(render(rows))
    print(f"\nbench took {elapsed:.0f}s")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    # A partial or resized run must not overwrite the day's full results.
    suffix = ""
    if only:
        suffix += "-only-" + "+".join(n.replace(" ", "-") for n in only)
    if args.size:
        suffix += "-resized"
    out = RESULTS_DIR / f"{day}-{machine()}{suffix}.json"
    out.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine(),
                "python": platform.python_version(),
                "elapsed_s": round(elapsed, 1),
                "sizes": asdict(sizes),
                "rows": [asdict(r) for r in rows],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")
    return 0
