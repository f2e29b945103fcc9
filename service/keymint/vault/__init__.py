"""keymint's Vault adapter: its own login, its KV records, caller authorisation, wrapping."""

from keymint.vault.auth import (
    AppRoleAuth,
    KubernetesAuth,
    LoginMethod,
    TokenAuth,
    TokenTtl,
    VaultSession,
)
from keymint.vault.authz import Authorizer, CallerIdentity, Capability, caller_token
from keymint.vault.endpoint import OperationHook, TlsOptions, VaultEndpoint
from keymint.vault.errors import (
    CasConflict,
    VaultDenied,
    VaultLoginFailed,
    VaultRejected,
    VaultUnavailable,
)
from keymint.vault.kv import KvStore, Versioned
from keymint.vault.tokens import TokenAccessors
from keymint.vault.wrapping import WrapInfo, wrap

__all__ = [
    "AppRoleAuth",
    "Authorizer",
    "CallerIdentity",
    "Capability",
    "CasConflict",
    "KubernetesAuth",
    "KvStore",
    "LoginMethod",
    "OperationHook",
    "TlsOptions",
    "TokenAccessors",
    "TokenAuth",
    "TokenTtl",
    "VaultDenied",
    "VaultEndpoint",
    "VaultLoginFailed",
    "VaultRejected",
    "VaultSession",
    "VaultUnavailable",
    "Versioned",
    "WrapInfo",
    "caller_token",
    "wrap",
]
