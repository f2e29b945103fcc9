"""keymint's adapters and services, built from settings and started once per process.

Like a Vault plugin's `backend.go`, this is the one place that knows how the pieces connect; it
holds no domain rule. Routes receive the one service they call; the engine sees only its ports.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import SecretStr

from keymint.bybit import ENDPOINT_RATES, BybitClient, resolve_base_url
from keymint.bybit.port import BybitPort
from keymint.engine.accessor_hash import load_accessor_hash
from keymint.engine.config import EngineConfig, EngineConfigStore
from keymint.engine.dynamic.caller_cap import CallerCaps
from keymint.engine.dynamic.idempotency import Idempotency
from keymint.engine.dynamic.leases import LeaseService
from keymint.engine.dynamic.minting import Minting
from keymint.engine.dynamic.role import RoleStore
from keymint.engine.dynamic.role_admin import Roles
from keymint.engine.dynamic.token_leases import TokenLeases
from keymint.engine.dynamic.warm_pool import WarmPool
from keymint.engine.keys.accounts import AccountStore
from keymint.engine.keys.capacity import CapacityView
from keymint.engine.keys.deletion import KeyDeleter, RetryPolicy
from keymint.engine.keys.factory import KeyFactory
from keymint.engine.keys.membership import MasterSubaccounts
from keymint.engine.keys.provisioning import Provisioner
from keymint.engine.keys.sweep import Sweep
from keymint.engine.layout import refuse_legacy_layout
from keymint.engine.leader import LeaderLock
from keymint.engine.master import MasterBybit, MasterHealth, MasterKey
from keymint.engine.ports import Bybit
from keymint.engine.reconcile.reconciler import Reconciler
from keymint.engine.roles_file import RolesFile, load_roles_file
from keymint.engine.static.admin import StaticRoles
from keymint.engine.static.role import StaticRoleStore
from keymint.engine.static.rotation import StaticRotator
from keymint.errors import KeymintError
from keymint.observability import hooks
from keymint.observability.state import Leadership, MetricsEvents
from keymint.scheduler import Job, Scheduler
from keymint.settings import Settings
from keymint.vault import (
    AppRoleAuth,
    Authorizer,
    KubernetesAuth,
    KvStore,
    LoginMethod,
    TlsOptions,
    TokenAccessors,
    TokenAuth,
    VaultEndpoint,
    VaultSession,
    VaultUnavailable,
    WrapInfo,
    wrap,
)

log = structlog.get_logger(__name__)

CREATE_RATE_PER_S = ENDPOINT_RATES["/v5/user/create-sub-api"]


def login_method(settings: Settings) -> LoginMethod:
    match settings.vault_auth_method:
        case "token":
            if settings.vault_token is None:
                raise ValueError("KEYMINT_VAULT_TOKEN is required with vault_auth_method=token")
            return TokenAuth(settings.vault_token)
        case "approle":
            if (settings.vault_approle_role_id is None) == (
                settings.vault_approle_role_id_file is None
            ):
                raise ValueError(
                    "approle auth needs one of KEYMINT_VAULT_APPROLE_ROLE_ID and "
                    "KEYMINT_VAULT_APPROLE_ROLE_ID_FILE"
                )
            return AppRoleAuth(
                settings.vault_approle_role_id,
                role_id_file=settings.vault_approle_role_id_file,
                secret_id=settings.vault_approle_secret_id,
                secret_id_file=settings.vault_approle_secret_id_file,
                mount=settings.vault_approle_mount,
            )
        case "kubernetes":
            if settings.vault_kubernetes_role is None:
                raise ValueError("KEYMINT_VAULT_KUBERNETES_ROLE is required with kubernetes auth")
            return KubernetesAuth(
                settings.vault_kubernetes_role,
                jwt_file=settings.vault_kubernetes_jwt_file,
                mount=settings.vault_kubernetes_mount,
            )


class BybitClients:
    """The one Bybit client of the process, re-signed when the master credential changes and
    rebuilt when the Bybit endpoint does (keeping pacing state across a credential change)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.base_url = settings.bybit_base_url
        self._client: BybitClient | None = None
        self._port: BybitPort | None = None

    def for_credential(self, api_key: str, api_secret: SecretStr) -> Bybit:
        if self._client is None or self._port is None:
            s = self._settings
            self._client = BybitClient(
                self.base_url,
                api_key,
                api_secret,
                recv_window_ms=s.bybit_recv_window_ms,
                timeout_s=s.bybit_timeout_s,
                rate_limit_scale=s.bybit_rate_limit_scale,
                key_cap_ret_codes=s.bybit_key_cap_ret_codes,
                on_request=hooks.bybit_request,
            )
            self._port = BybitPort(self._client)
        else:
            self._client.set_credentials(api_key, api_secret)
        return self._port

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = self._port = None


@dataclass
class Services:
    settings: Settings
    session: VaultSession
    endpoint: VaultEndpoint
    authorizer: Authorizer
    config: EngineConfigStore
    roles: Roles
    minting: Minting
    leases: LeaseService
    static: StaticRoles
    reconciler: Reconciler
    capacity: CapacityView
    rotator: StaticRotator
    sweep: Sweep
    token_leases: TokenLeases
    leader: LeaderLock
    scheduler: Scheduler | None
    master_health: MasterHealth
    _clients: BybitClients

    async def wrap(self, data: dict[str, Any], ttl_s: int) -> WrapInfo:
        return await wrap(self.session.client, data, ttl_s)

    async def stop(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()
        await self._clients.close()
        await self.session.stop()
        self.endpoint.close()


class VaultNotReached(KeymintError):
    """Vault did not answer within KEYMINT_VAULT_START_TIMEOUT_S: keymint does not start."""

    status_code = 503


async def reach_vault(
    session: VaultSession, settings: Settings, monotonic: Callable[[], float]
) -> None:
    """Logs in, retrying with backoff while Vault is unreachable or sealed (it may start after
    keymint, or be mid-election); anything else, such as a refused login, fails at once."""
    deadline = monotonic() + settings.vault_start_timeout_s
    delay = 0.5
    while True:
        try:
            await session.start()
            return
        except VaultUnavailable as exc:
            if monotonic() + delay > deadline:
                raise VaultNotReached(
                    f"Vault at {settings.vault_addr} (KEYMINT_VAULT_ADDR) did not answer within "
                    f"{settings.vault_start_timeout_s:g}s (KEYMINT_VAULT_START_TIMEOUT_S): "
                    f"{exc.message}"
                ) from None
            log.warning(
                "vault_unreachable_at_start",
                vault_addr=settings.vault_addr,
                setting="KEYMINT_VAULT_ADDR",
                error=exc.message,
                retry_in_s=delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def start(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> Services:
    """Everything, started. `clock` and `monotonic` are for tests that move time."""
    from_file = (
        load_roles_file(settings.roles_file, max_lease_ttl_s=settings.max_lease_ttl_s)
        if settings.roles_file
        else RolesFile()
    )
    endpoint = VaultEndpoint(
        settings.vault_addr,
        tls=TlsOptions(
            ca_cert=settings.vault_cacert,
            client_cert=settings.vault_client_cert,
            client_key=settings.vault_client_key,
            skip_verify=settings.vault_skip_verify,
        ),
        timeout_s=settings.vault_timeout_s,
        namespace=settings.vault_namespace,
    )
    session = VaultSession(endpoint, login_method(settings), hook=hooks.vault_operation)
    await reach_vault(session, settings, monotonic)
    kv = KvStore(
        session.client,
        mount=settings.vault_kv_mount,
        prefix=settings.vault_prefix,
        hook=hooks.vault_operation,
    )
    await refuse_legacy_layout(kv)
    events = MetricsEvents()
    clients = BybitClients(settings)
    master = MasterKey(
        kv, clients.for_credential, refresh_s=settings.master_refresh_s, monotonic=monotonic
    )

    async def endpoint_changed(config: EngineConfig) -> None:
        await clients.close()
        clients.base_url = config.bybit_base_url
        master.forget()

    config = EngineConfigStore(
        kv,
        default_base_url=settings.bybit_base_url,
        check_base_url=resolve_base_url,
        on_change=endpoint_changed,
    )
    clients.base_url = (await config.current()).bybit_base_url
    bybit = MasterBybit(master)
    subaccounts = MasterSubaccounts(bybit)
    store = AccountStore(kv)
    provisioner = Provisioner(kv, bybit)
    role_store = RoleStore(kv, from_file.roles, max_lease_ttl_s=settings.max_lease_ttl_s)
    static_store = StaticRoleStore(kv, from_file.static_roles)
    factory = KeyFactory(
        store,
        bybit,
        provisioner,
        key_limit=settings.subaccount_key_limit,
        create_rate_per_s=CREATE_RATE_PER_S * settings.bybit_rate_limit_scale,
        max_queue_wait_s=settings.mint_queue_wait_s,
        clock=clock,
    )
    deleter = KeyDeleter(
        store,
        bybit,
        holder=settings.replica_id,
        retry=RetryPolicy(
            max_attempts=settings.revoke_max_attempts,
            base_s=settings.revoke_backoff_s,
            irrevocable_every_s=settings.revoke_irrevocable_retry_s,
            claim_s=settings.revoke_claim_s,
        ),
        events=events,
        clock=clock,
    )
    leases = LeaseService(store, deleter, hash_accessor=await load_accessor_hash(kv), clock=clock)
    warm_pool = WarmPool(store, factory, provisioner, clock=clock)
    idempotency = Idempotency(kv, clock=clock)
    minting = Minting(
        role_store,
        factory,
        warm_pool,
        leases,
        CallerCaps(kv, store),
        idempotency,
        provisioner,
        events,
        max_lease_ttl_s=settings.max_lease_ttl_s,
        clock=clock,
    )
    rotator = StaticRotator(kv, static_store, factory, deleter, events, clock=clock)
    reconciler = Reconciler(
        store,
        bybit,
        deleter,
        leases,
        role_store,
        static_store,
        rotator.state,
        provisioner,
        events,
        grace_s=settings.reconcile_grace_s,
        drift_action=settings.reconcile_drift_action,
        key_limit=settings.subaccount_key_limit,
        clock=clock,
    )
    sweep = Sweep(
        store,
        deleter,
        warm_pool,
        role_store,
        static_store,
        provisioner,
        events,
        key_limit=settings.subaccount_key_limit,
        rotations=rotator.last_rotations,
        clock=clock,
    )
    token_leases = TokenLeases(
        store,
        deleter,
        role_store,
        TokenAccessors(session, hook=hooks.vault_operation),
        hash_accessor=leases.hash_accessor,
    )
    await _replay_intents(reconciler)
    leader = LeaderLock(
        kv, settings.replica_id, lease_s=settings.leader_lease_s, clock=clock, monotonic=monotonic
    )
    leadership = Leadership(events)
    master_health = MasterHealth(kv, bybit, events)
    await master_health.check()
    scheduler = None
    if settings.scheduler_enabled:
        jobs = [
            Job(
                "sweep",
                settings.expiry_interval_s,
                lambda: sweep.run(leader.fence()),
                # Leader-only: there is nothing to spread, and a lease should not wait long.
                jitter_s=min(1.0, settings.expiry_interval_s / 10),
            ),
            Job("idempotency-purge", 300.0, idempotency.purge, jitter_s=30.0),
            Job(
                "static-rotation",
                settings.static_rotation_interval_s,
                lambda: rotator.rotate_due(leader.fence()),
            ),
            # Every replica: each answers readiness from its own last check.
            Job("master-key", settings.master_key_check_s, master_health.check, leader_only=False),
            Job(
                "reconcile",
                settings.reconcile_interval_s,
                lambda: reconciler.run(dry_run=False, fence=leader.fence()),
                jitter_s=settings.reconcile_interval_s / 20,
            ),
        ]
        if settings.token_check_interval_s > 0:
            jobs.append(
                Job(
                    "token-check",
                    settings.token_check_interval_s,
                    lambda: token_leases.run(leader.fence()),
                    jitter_s=min(1.0, settings.token_check_interval_s / 10),
                )
            )
        scheduler = Scheduler(leader, jobs, on_leadership=leadership.show)
        scheduler.start()
    log.info(
        "backend_started",
        file_roles=sorted(from_file.roles),
        file_static_roles=sorted(from_file.static_roles),
        vault=settings.vault_addr,
    )
    return Services(
        settings=settings,
        session=session,
        endpoint=endpoint,
        authorizer=Authorizer(
            endpoint,
            hook=hooks.vault_operation,
            policy_prefix=settings.vault_policy_prefix,
            cache_ttl_s=settings.authz_cache_ttl_s,
        ),
        config=config,
        roles=Roles(role_store, leases, subaccounts),
        minting=minting,
        leases=leases,
        static=StaticRoles(static_store, rotator, subaccounts),
        reconciler=reconciler,
        capacity=CapacityView(
            store, role_store, static_store, provisioner, key_limit=settings.subaccount_key_limit
        ),
        rotator=rotator,
        sweep=sweep,
        token_leases=token_leases,
        leader=leader,
        scheduler=scheduler,
        master_health=master_health,
        _clients=clients,
    )


async def _replay_intents(reconciler: Reconciler) -> None:
    """Finish or roll back the mints a crash left half-done; never blocks start-up, since
    reconciliation retries the same later."""
    try:
        report = await reconciler.replay_intents()
    except Exception as exc:
        error = exc.message if isinstance(exc, KeymintError) else type(exc).__name__
        log.error("intent_replay_failed", error=error)
        return
    log.info("intents_replayed", **report.totals.model_dump())
