"""The permission object (bybit-v5.md section 6): groups, what each role may hold, validation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bybit_sim.envelope import params_error

Permissions = dict[str, list[str]]

# Response order follows the 2026 query-api example; every group is always present.
GROUP_ORDER: tuple[str, ...] = (
    "ContractTrade",
    "Spot",
    "Wallet",
    "Options",
    "Derivatives",
    "CopyTrading",
    "BlockTrade",
    "Exchange",
    "NFT",
    "Affiliate",
    "Earn",
    "FiatP2P",
    "FiatConvertBroker",
    "FiatGlobalPay",
    "FiatBitPay",
    "BitCard",
    "ByXPost",
)

_SHARED: dict[str, tuple[str, ...]] = {
    "ContractTrade": ("Order", "Position"),
    "Spot": ("SpotTrade",),
    "Options": ("OptionsTrade",),
    "Derivatives": ("DerivativesTrade",),
    "Exchange": ("ExchangeHistory",),
    "Earn": ("Earn",),
}

# Groups absent from a role's table can only ever be [] for that role.
SUB_ALLOWED: dict[str, tuple[str, ...]] = {
    **_SHARED,
    "Wallet": ("AccountTransfer", "SubMemberTransferList"),
}

MASTER_ALLOWED: dict[str, tuple[str, ...]] = {
    **_SHARED,
    "Wallet": ("AccountTransfer", "SubMemberTransfer", "Withdraw"),
    "BlockTrade": ("BlockTrade",),
    "Affiliate": ("Affiliate",),
    "FiatP2P": ("FiatP2POrder", "Advertising"),
    "FiatConvertBroker": ("FiatConvertBrokerOrder",),
    "FiatBitPay": ("FaitPayOrder",),
    "BitCard": ("BitCard",),
    "ByXPost": ("ByXPost",),
}

# Changing these on a read-write master key is refused (modify-master-apikey docs).
READ_WRITE_LOCKED_GROUPS = ("FiatP2P", "FiatBitPay", "FiatConvertBroker")

# Wallet rights that unlock the sub-account management endpoints ("Required perms" tips).
MANAGEMENT_WALLET_RIGHTS = frozenset(
    {"AccountTransfer", "SubMemberTransfer", "Withdraw", "SubMemberTransferList"}
)


def full(granted: Mapping[str, Iterable[str]]) -> Permissions:
    """The complete object: every group, canonical value order, [] where nothing is granted."""
    values = {group: set(items) for group, items in granted.items()}
    result: Permissions = {}
    for group in GROUP_ORDER:
        wanted = values.get(group, set())
        order = MASTER_ALLOWED.get(group, ()) + SUB_ALLOWED.get(group, ())
        result[group] = [value for value in dict.fromkeys(order) if value in wanted]
    return result


def default_master() -> Permissions:
    # Affiliate must be a key's only permission, so an all-rights master leaves it out.
    return full({group: values for group, values in MASTER_ALLOWED.items() if group != "Affiliate"})


def parse(raw: object, *, master: bool) -> Permissions:
    """Validate a request's `permissions` object for a sub (or master) key; the full object."""
    if not isinstance(raw, dict):
        raise params_error("permissions must be an object of group -> list of values")
    allowed = MASTER_ALLOWED if master else SUB_ALLOWED
    role = "master" if master else "sub-account"
    for group, values in raw.items():
        if group not in GROUP_ORDER:
            raise params_error(f"unknown permission group {group!r}")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise params_error(f"permissions.{group} must be a list of strings")
        for value in values:
            if value not in allowed.get(group, ()):
                raise params_error(
                    f"permission {group}:{value} cannot be granted to a {role} API key"
                )
    perms = full(raw)
    if master and perms["Affiliate"] and sum(len(v) for v in perms.values()) > 1:
        raise params_error("Affiliate must be the only permission of the API key")
    return perms


def has_any(perms: Permissions, group: str, values: Iterable[str]) -> bool:
    return any(value in perms.get(group, ()) for value in values)
