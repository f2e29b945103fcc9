"""keymint's own Vault policy, the one shipped in `deploy/vault/keymint-policy.hcl`, and a token
holding only it: what `make dev` and the tests run keymint with, so that a capability keymint
needs and the shipped file lacks fails them.

The file is part of the source tree, not of the installed package: this is for a checkout.
"""

from __future__ import annotations

from pathlib import Path

import hvac

POLICY_FILE = Path(__file__).resolve().parents[2] / "deploy" / "vault" / "keymint-policy.hcl"
# The mount and prefix the shipped file is written for (keymint's defaults).
SHIPPED_MOUNT = "secret"
SHIPPED_PREFIX = "keymint"


def render_policy(mount: str = SHIPPED_MOUNT, prefix: str = SHIPPED_PREFIX) -> str:
    """The shipped policy for keymint's KV v2 `mount` and `prefix` (deploy/vault/setup.sh does
    the same substitution)."""
    if not POLICY_FILE.is_file():
        raise FileNotFoundError(
            f"{POLICY_FILE} is missing: keymint's Vault policy ships in its source tree"
        )
    text = POLICY_FILE.read_text()
    mount, prefix = mount.strip("/"), prefix.strip("/")
    for area in ("data", "metadata"):
        # Quoted: only path strings move, never a comment's words.
        text = text.replace(
            f'"{SHIPPED_MOUNT}/{area}/{SHIPPED_PREFIX}/', f'"{mount}/{area}/{prefix}/'
        )
    return text


def create_keymint_token(
    admin: hvac.Client,
    *,
    mount: str = SHIPPED_MOUNT,
    prefix: str = SHIPPED_PREFIX,
    policy_name: str = "keymint",
    ttl: str = "1h",
) -> str:
    """Write the policy as `policy_name` with `admin` and return a renewable token holding that
    policy alone: without `default`, so nothing keymint calls is allowed by another policy."""
    admin.sys.create_or_update_policy(policy_name, render_policy(mount, prefix))
    created = admin.auth.token.create(
        policies=[policy_name],
        no_default_policy=True,
        ttl=ttl,
        renewable=True,
        display_name="keymint",
    )
    token: str = created["auth"]["client_token"]
    return token
