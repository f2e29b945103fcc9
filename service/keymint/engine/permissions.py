"""Which Bybit permissions a keymint-minted sub-account key may carry.

The table is Bybit's sub-account key column (bybit-v5 §6): groups that are always empty for
sub keys, and master-only values, are simply not in it. On top of it sits a deny-list that
always holds withdrawal and transfer-out rights, whatever an operator configures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SUB_KEY_PERMISSIONS: Mapping[str, frozenset[str]] = {
    "ContractTrade": frozenset({"Order", "Position"}),
    "Spot": frozenset({"SpotTrade"}),
    "Wallet": frozenset({"AccountTransfer", "SubMemberTransferList"}),
    "Options": frozenset({"OptionsTrade"}),
    "Derivatives": frozenset({"DerivativesTrade"}),
    "Exchange": frozenset({"ExchangeHistory"}),
    "Earn": frozenset({"Earn"}),
}

# Money leaving the sub-account: never granted, and not removable by configuration.
ALWAYS_DENIED: frozenset[str] = frozenset(
    {"Withdraw", "SubMemberTransfer", "SubMemberTransferList"}
)

Permissions = dict[str, list[str]]


def validate_permissions(
    value: Mapping[str, Any], *, extra_denied: Iterable[str] = ()
) -> Permissions:
    """The permissions normalised (sorted, no empty groups), or ValueError naming the group.
    The input is untrusted JSON: each group must be a list of strings, nothing else."""
    denied = ALWAYS_DENIED | frozenset(extra_denied)
    result: Permissions = {}
    for group, values in value.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"{group}: expected a list of permission names (strings)")
        chosen = sorted(set(values))
        for item in chosen:
            if item in denied:
                raise ValueError(
                    f"{group}: {item!r} is a withdrawal or transfer-out right, "
                    "which keymint never grants"
                )
        allowed = SUB_KEY_PERMISSIONS.get(group)
        if allowed is None:
            raise ValueError(
                f"unknown or master-only group {group!r} "
                f"(sub-account keys take {', '.join(sorted(SUB_KEY_PERMISSIONS))})"
            )
        unknown = [item for item in chosen if item not in allowed]
        if unknown:
            raise ValueError(
                f"{group}: {', '.join(map(repr, unknown))} not allowed on a "
                f"sub-account key (allowed: {', '.join(sorted(allowed))})"
            )
        if chosen:
            result[group] = chosen
    if not result:
        raise ValueError("at least one permission is required")
    return result
