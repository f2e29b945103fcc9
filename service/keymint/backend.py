"""The backend: keymint's adapters and engine, built from settings and started once per process.

Like a Vault plugin's `backend.go`, this is the one place that knows how the pieces connect;
routes receive it, and the engine sees only its ports.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import SecretStr

from keymint.bybit import ENDPOINT_RATES, BybitClient, resolve_base_url
from keymint.engine.capacity import usage
from keymint.engine.creds import Issuer
from keymint.engine.expiry import ExpiryJob
from keymint.engine.idempotency import Idempotency
from keymint.engine.leader import LeaderLock
from keymint.engine.lease_ops import Leases, RevokeRetry
from keymint.engine.master import MasterKey
from keymint.engine.ports import BybitKeys
from keymint.engine.provisioning import pool_of
from keymint.engine.reconcile import Reconciler, definition_scope
from keymint.engine.role_store import RolesFile, RoleStore, load_roles_file
from keymint.engine.roles import Role
from keymint.engine.static_roles import StaticRoleStore, StaticRotator
from keymint.engine.store import ENGINE_CONFIG, MASTER, data_of
from keymint.engine.warm_pool import WarmPool
from keymint.errors import BadRequest, KeymintError
from keymint.observability import hooks
from keymint.observability.state import StateGauges
from keymint.scheduler import Job, Scheduler
from keymint.settings import Settings
from keymint.vault import (
    AppRoleAuth,
    Authorizer,
    KubernetesAuth,
    KvStore,
    LoginMethod,
    TlsOptions,
    TokenAuth,
    VaultEndpoint,
    VaultSession,
    WrapInfo,
    wrap,
)

log = structlog.get_logger(__name__)

CREATE_RATE_PER_S = ENDPOINT_RATES["/v5/user/create-sub-api"]
# How long a replica may keep using engine settings another replica changed.
ENGINE_CONFIG_TTL_S = 10.0


def login_method(settings: Settings) -> LoginMethod:
    match settings.vault_auth_method:
        case "token":
            if settings.vault_token is None:
                raise ValueError("KEYMINT_VAULT_TOKEN is required with vault_auth_method=token")
            return TokenAuth(settings.vault_token)
        case "approle":
            if settings.vault_approle_role_id is None:
                raise ValueError("KEYMINT_VAULT_APPROLE_ROLE_ID is required with approle auth")
            return AppRoleAuth(
                settings.vault_approle_role_id,
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


@dataclass
class EngineConfig:
    """Non-secret engine settings written through /v1/config, over the process settings."""

    bybit_base_url: str

    def public(self) -> dict[str, Any]:
        return {"bybit_base_url": self.bybit_base_url}


@dataclass
class Backend:
    settings: Settings
    endpoint: VaultEndpoint
    session: VaultSession
    kv: KvStore
    authorizer: Authorizer
    roles: RoleStore
    static_roles: StaticRoleStore
    master: MasterKey = field(init=False)
    issuer: Issuer = field(init=False)
    leases: Leases = field(init=False)
    idempotency: Idempotency = field(init=False)
    static: StaticRotator = field(init=False)
    reconciler: Reconciler = field(init=False)
    _bybit: BybitClient | None = field(default=None, init=False)
    _config: EngineConfig | None = field(default=None, init=False)
    _config_read_at: float = field(default=0.0, init=False)
    leader: LeaderLock = field(init=False)
    expiry: ExpiryJob = field(init=False)
    warm_pool: WarmPool = field(init=False)
    scheduler: Scheduler | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.master = MasterKey(self.kv, self._bybit_for)
        self.leases = Leases(
            self.kv,
            self.master,
            retry=RevokeRetry(
                max_attempts=self.settings.revoke_max_attempts,
                base_s=self.settings.revoke_backoff_s,
                irrevocable_every_s=self.settings.revoke_irrevocable_retry_s,
            ),
        )
        self.leader = LeaderLock(
            self.kv, self.settings.replica_id, lease_s=self.settings.leader_lease_s
        )
        self.expiry = ExpiryJob(self.kv, self.leases, still_leader=lambda: self.leader.is_leader)
        self.issuer = Issuer(
            self.kv,
            self.master,
            self.leases,
            key_limit=self.settings.subaccount_key_limit,
            create_rate_per_s=CREATE_RATE_PER_S * self.settings.bybit_rate_limit_scale,
            max_queue_wait_s=self.settings.mint_queue_wait_s,
        )
        self.warm_pool = WarmPool(self.kv, self.issuer, still_leader=lambda: self.leader.is_leader)
        self.issuer.warm_pool = self.warm_pool
        self.idempotency = Idempotency(self.kv)
        self.static = StaticRotator(
            self.kv, self.master, self.static_roles, self.issuer, on_outcome=hooks.rotation
        )
        self.reconciler = Reconciler(
            self.kv,
            self.master,
            self.roles,
            grace_s=self.settings.reconcile_grace_s,
            drift_action=self.settings.reconcile_drift_action,
            key_limit=self.settings.subaccount_key_limit,
            leases=self.leases,
            scope_sources=[definition_scope(self.static_roles, lambda role: [role.subaccount_uid])],
            on_report=hooks.reconciliation,
        )

    @classmethod
    async def start(cls, settings: Settings) -> Backend:
        from_file = load_roles_file(settings.roles_file) if settings.roles_file else RolesFile()
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
        await session.start()
        kv = KvStore(
            session.client,
            mount=settings.vault_kv_mount,
            prefix=settings.vault_prefix,
            hook=hooks.vault_operation,
        )
        backend = cls(
            settings=settings,
            endpoint=endpoint,
            session=session,
            kv=kv,
            authorizer=Authorizer(
                endpoint,
                hook=hooks.vault_operation,
                policy_prefix=settings.vault_policy_prefix,
                cache_ttl_s=settings.authz_cache_ttl_s,
            ),
            roles=RoleStore(kv, from_file.roles),
            static_roles=StaticRoleStore(kv, from_file.static_roles),
        )
        await backend.engine_config()
        await backend.replay_intents()
        if settings.scheduler_enabled:
            backend.scheduler = Scheduler(backend.leader, backend.jobs())
            backend.scheduler.start()
        log.info(
            "backend_started",
            file_roles=sorted(from_file.roles),
            file_static_roles=sorted(from_file.static_roles),
            vault=settings.vault_addr,
        )
        return backend

    def jobs(self) -> list[Job]:
        """What the leader runs, and how often; the gauges are refreshed on every replica."""
        return [
            Job(
                "metrics-state",
                self.settings.metrics_refresh_s,
                StateGauges(self).refresh,
                leader_only=False,
            ),
            Job("expiry", self.settings.expiry_interval_s, self.expiry.run),
            Job("idempotency-purge", 300.0, self.idempotency.purge, jitter_s=30.0),
            Job(
                "static-rotation", self.settings.static_rotation_interval_s, self.static.rotate_due
            ),
            Job("warm-pool", self.settings.warm_pool_interval_s, self._refill_warm_pools),
            Job(
                "reconcile",
                self.settings.reconcile_interval_s,
                self._reconcile,
                jitter_s=self.settings.reconcile_interval_s / 20,
            ),
        ]

    async def _reconcile(self) -> object:
        return await self.reconciler.run(dry_run=False)

    async def _dynamic_roles(self) -> list[Role]:
        return [(await self.roles.get(name)).role for name in await self.roles.names()]

    async def _refill_warm_pools(self) -> int:
        return await self.warm_pool.refill([r for r in await self._dynamic_roles() if r.warm_pool])

    async def subaccount_usage(self) -> list[dict[str, Any]]:
        pools: dict[int, list[str]] = {}
        for role in await self._dynamic_roles():
            for uid in await pool_of(self.kv, role):
                pools.setdefault(uid, []).append(role.name)
        return await usage(self.kv, pools, limit=self.settings.subaccount_key_limit)

    async def replay_intents(self) -> None:
        """Finish or roll back the mints a crash left half-done; never blocks start-up, since
        reconciliation retries the same later."""
        try:
            report = await self.reconciler.replay_intents()
        except Exception as exc:
            error = exc.message if isinstance(exc, KeymintError) else type(exc).__name__
            log.error("intent_replay_failed", error=error)
            return
        log.info("intents_replayed", **report.totals.model_dump())

    async def stop(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self._bybit is not None:
            await self._bybit.aclose()
        await self.session.stop()
        self.endpoint.close()

    def _bybit_for(self, api_key: str, api_secret: SecretStr) -> BybitKeys:
        """The master key changed: re-sign with it, keeping the pacing state of the old key."""
        if self._bybit is None:
            base_url = self._config.bybit_base_url if self._config else self.settings.bybit_base_url
            self._bybit = BybitClient(
                base_url,
                api_key,
                api_secret,
                recv_window_ms=self.settings.bybit_recv_window_ms,
                timeout_s=self.settings.bybit_timeout_s,
                rate_limit_scale=self.settings.bybit_rate_limit_scale,
                key_cap_ret_codes=self.settings.bybit_key_cap_ret_codes,
                on_request=hooks.bybit_request,
            )
        else:
            self._bybit.set_credentials(api_key, api_secret)
        return self._bybit

    async def engine_config(self) -> EngineConfig:
        if self._config is None or time.monotonic() - self._config_read_at > ENGINE_CONFIG_TTL_S:
            data, _ = data_of(await self.kv.read(ENGINE_CONFIG))
            config = EngineConfig(
                bybit_base_url=str(data.get("bybit_base_url") or self.settings.bybit_base_url)
            )
            if self._config is not None and config != self._config:
                await self._drop_bybit_client()
            self._config, self._config_read_at = config, time.monotonic()
        return self._config

    async def update_engine_config(self, body: dict[str, Any]) -> EngineConfig:
        unknown = set(body) - {"bybit_base_url"}
        if unknown:
            raise BadRequest(f"{', '.join(sorted(unknown))}: unknown field")
        base_url = body.get("bybit_base_url")
        if not isinstance(base_url, str):
            raise BadRequest("bybit_base_url: expected a string")
        try:
            resolve_base_url(base_url)
        except ValueError as exc:
            raise BadRequest(f"bybit_base_url: {exc}") from None
        current = await self.kv.read(ENGINE_CONFIG)
        await self.kv.write(
            ENGINE_CONFIG, {"bybit_base_url": base_url}, cas=current.version if current else 0
        )
        self._config_read_at = 0.0
        return await self.engine_config()

    async def _drop_bybit_client(self) -> None:
        if self._bybit is not None:
            await self._bybit.aclose()
        self._bybit = None
        self.master.forget()

    async def master_summary(self) -> dict[str, Any]:
        """What /v1/config shows of the master credential: never the secret."""
        data, _ = data_of(await self.kv.read(MASTER))
        return {
            "configured": bool(data.get("api_key") and data.get("api_secret")),
            "api_key": str(data.get("api_key", "")),
            "master_uid": str(data.get("master_uid", "")),
        }

    async def wrap(self, data: dict[str, Any], ttl_s: int) -> WrapInfo:
        return await wrap(self.session.client, data, ttl_s)
