"""Response wrapping: a secret handed out as a single-use Vault token instead of in the clear."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import hvac

from keymint.vault.endpoint import OperationHook, call, no_hook


@dataclass(frozen=True)
class WrapInfo:
    token: str = field(repr=False)
    accessor: str
    ttl_s: int
    creation_time: str
    creation_path: str


async def wrap(
    client: hvac.Client, data: Mapping[str, Any], ttl_s: int, *, hook: OperationHook = no_hook
) -> WrapInfo:
    """Wrap `data` in a token that can be unwrapped once, within `ttl_s` seconds."""
    resp = await call(
        lambda: client.sys.wrap(payload=dict(data), ttl=ttl_s),
        op="wrap",
        target="sys/wrapping/wrap",
        hook=hook,
    )
    info = resp["wrap_info"]
    return WrapInfo(
        token=str(info["token"]),
        accessor=str(info["accessor"]),
        ttl_s=int(info["ttl"]),
        creation_time=str(info["creation_time"]),
        creation_path=str(info["creation_path"]),
    )
