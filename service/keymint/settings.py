"""Process configuration, from `KEYMINT_*` environment variables (or a `.env` file).

Only how to reach things lives here. The Bybit master credential is data in Vault, never an
environment variable, so rotating it needs no restart.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from keymint.engine.dynamic.role import DEFAULT_MAX_LEASE_TTL_S


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEYMINT_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8300, ge=1, le=65535)
    tls_cert_file: Path | None = Field(
        default=None, description="serve HTTPS with this certificate (reloaded when it changes)"
    )
    tls_key_file: Path | None = None
    tls_reload_s: float = Field(default=30.0, gt=0, description="how often to check the files")
    allow_insecure_http: bool = Field(
        default=False,
        description="serve plain HTTP on a non-loopback address (tokens and secrets in clear)",
    )
    log_format: Literal["json", "console"] = "json"
    log_level: str = "INFO"

    roles_file: Path | None = Field(
        default=None, description="YAML file of roles, read-only through the API"
    )
    max_lease_ttl_s: int = Field(
        default=DEFAULT_MAX_LEASE_TTL_S,
        ge=1,
        le=10 * 365 * 86400,
        description="system maximum of a lease's lifetime, a role's max_ttl and a wrap TTL "
        "(Vault's max_lease_ttl: 32 days)",
    )
    subaccount_key_limit: int = Field(
        default=20, ge=1, description="API keys a Bybit sub-account may hold (all owners)"
    )
    static_rotation_interval_s: float = Field(
        default=30.0, gt=0, description="how often due static-role rotations are looked for"
    )
    mint_queue_wait_s: float = Field(
        default=30.0,
        ge=0,
        description="longest a mint may queue for Bybit's create rate limit before a 429",
    )

    scheduler_enabled: bool = Field(
        default=True, description="run the background jobs (on the replica holding the lock)"
    )
    replica_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        description="this replica's name in the leader lock",
    )
    leader_lease_s: float = Field(default=15.0, gt=0)
    master_key_check_s: float = Field(
        default=300.0, gt=0, description="how often the master key's expiry is read from Bybit"
    )
    expiry_interval_s: float = Field(
        default=10.0,
        gt=0,
        description="how often the leader sweeps the sub-account records: expiry, retried "
        "deletions, warm-pool trims and refills, and the state gauges",
    )
    token_check_interval_s: float = Field(
        default=60.0,
        ge=0,
        description="how often the leader asks Vault whether the tokens that minted live "
        "leases still exist, and revokes the leases of tokens that do not (0: never)",
    )
    master_refresh_s: float = Field(
        default=5.0,
        gt=0,
        description="how long the master credential is used before Vault is asked again (at "
        "once after Bybit refuses it)",
    )
    revoke_max_attempts: int = Field(
        default=8, ge=1, description="failed revocations before a lease is irrevocable"
    )
    revoke_backoff_s: float = Field(default=5.0, gt=0)
    revoke_irrevocable_retry_s: float = Field(
        default=86400.0, gt=0, description="how often an irrevocable lease is retried"
    )
    revoke_claim_s: float = Field(
        default=60.0,
        gt=0,
        description="how long a request's claim on a key it is deleting keeps other replicas "
        "away (a leader's claim ends with its term)",
    )

    reconcile_grace_s: float = Field(
        default=300.0,
        ge=0,
        description="age below which an unowned key or slot may be a mint in flight: left alone",
    )
    reconcile_drift_action: Literal["report", "repair", "revoke"] = Field(
        default="report",
        description="a key whose rights differ from its lease: report it, put it back, or revoke",
    )
    reconcile_interval_s: float = Field(default=600.0, gt=0)

    vault_addr: str = Field(
        default="http://127.0.0.1:8200",
        description="Vault's address, or each node's of an HA cluster, comma-separated: every "
        "call goes to the node whose sys/health answers active",
    )
    vault_auth_method: Literal["token", "approle", "kubernetes"] = "token"
    vault_token: SecretStr | None = None
    vault_approle_role_id: str | None = None
    vault_approle_role_id_file: Path | None = Field(
        default=None,
        description="a file holding the role_id instead (as Vault Agent's role_id_file_path), "
        "e.g. the one deploy/vault/setup.sh writes with KEYMINT_VAULT_AUTH=approle",
    )
    vault_approle_secret_id: SecretStr | None = None
    vault_approle_secret_id_file: Path | None = None
    vault_approle_mount: str = "approle"
    vault_kubernetes_role: str | None = None
    vault_kubernetes_jwt_file: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    vault_kubernetes_mount: str = "kubernetes"
    vault_cacert: Path | None = None
    vault_client_cert: Path | None = None
    vault_client_key: Path | None = None
    vault_skip_verify: bool = False
    vault_namespace: str | None = None
    vault_timeout_s: int = Field(default=10, ge=1)
    vault_start_timeout_s: float = Field(
        default=60.0,
        ge=0,
        description="how long start-up retries, with backoff, while Vault is unreachable or sealed",
    )
    vault_kv_mount: str = "secret"
    vault_prefix: str = "keymint"
    vault_policy_prefix: str = Field(
        default="keymint", description="callers need capabilities on <prefix>/<API path>"
    )
    authz_cache_ttl_s: float = Field(default=5.0, ge=0)

    bybit_base_url: str = Field(
        default="mainnet",
        description="mainnet, bytick, testnet, demo, a regional host name, or an http(s) URL",
    )
    bybit_recv_window_ms: int = Field(default=5000, ge=1)
    bybit_timeout_s: float = Field(default=10.0, gt=0)
    bybit_rate_limit_scale: float = Field(
        default=1.0,
        gt=0,
        description="multiplies Bybit's published rate limits; only a simulator honours >1",
    )
    bybit_key_cap_ret_codes: list[int] = Field(
        default=[10001],
        description="create-sub-api retCodes meaning the key cap is reached (Bybit documents "
        "none; 10001 is what the simulator answers by default)",
    )
