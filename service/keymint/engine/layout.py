"""What keymint keeps where in KV v2, under its prefix, and the refusal to start on state written
by keymint 0.1's layout.

    config/master          the Bybit master credential (api_key, api_secret, master_uid)
    config/engine          non-secret engine settings written through /v1/config
    roles/<name>           dynamic roles created through the API (file roles are never stored)
    static-roles/<name>    static roles created through the API
    keys/<uid>             the sub-account record: every key keymint holds on sub-account uid
    static-creds/<name>    a static role's current (and during overlap, previous) key: the view
                           bots read straight from Vault (Vault Agent templates)
    callers/<role>/<id>    the leases of one caller of a role with max_leases_per_caller
    provisioned/<role>     sub-accounts keymint created for a role
    idempotency/<digest>   a pending or finished mint, replayed to a retrying caller
    leader                 the scheduler's leader lock (holder, expiry, term)
"""

from __future__ import annotations

from keymint.engine.ports import KV

# keymint 0.1 split a key's ownership over these three folders.
LEGACY_FOLDERS = ("leases/", "pool/", "subaccounts/")


class LegacyLayout(RuntimeError):
    """State from keymint 0.1 is present: starting would leave its keys unmanaged."""


async def refuse_legacy_layout(kv: KV) -> None:
    found = [folder for folder in LEGACY_FOLDERS if await kv.list(folder)]
    if found:
        raise LegacyLayout(
            f"this Vault prefix holds keymint 0.1 state ({', '.join(found)}), which keymint 0.2 "
            "does not read: its keys would be unmanaged. Drain it with keymint 0.1 first "
            "(revoke every lease with `revoke-prefix`, set warm_pool to 0 and delete the static "
            "roles, wait for the pool to empty), then delete those folders; or point keymint 0.2 "
            "at a new KEYMINT_VAULT_PREFIX and let reconciliation delete 0.1's leftover keys "
            "after the old prefix is drained"
        )
