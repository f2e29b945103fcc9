"""IP binding of API keys (bybit-v5.md section 7.1): request parsing and source-address matching."""

from __future__ import annotations

import ipaddress

from bybit_sim.config import SimConfig
from bybit_sim.envelope import params_error

UNBOUND = "*"


def parse_ips(raw: object, config: SimConfig) -> list[str]:
    """`ips` (comma-separated string or array of strings) as stored: ["*"] means unbound."""
    if isinstance(raw, str):
        items = raw.split(",")
    elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        items = [part for item in raw for part in item.split(",")]
    else:
        raise params_error("ips must be a comma-separated string or an array of strings")
    cleaned = list(dict.fromkeys(item.strip() for item in items if item.strip()))
    if not cleaned or cleaned == [UNBOUND]:
        return [UNBOUND]
    if UNBOUND in cleaned:
        raise params_error("ips: '*' cannot be combined with addresses")
    if len(cleaned) > config.max_ips_per_key:
        raise params_error(f"ips: at most {config.max_ips_per_key} addresses per API key")
    for item in cleaned:
        _check_address(item, config)
    return cleaned


def _check_address(item: str, config: SimConfig) -> None:
    try:
        network = ipaddress.ip_network(item, strict=False)
    except ValueError:
        raise params_error(f"ips: {item!r} is not an IP address") from None
    if "/" in item and not config.allow_cidr:
        raise params_error(f"ips: CIDR ranges are not accepted ({item!r})")
    if network.version == 6 and not config.allow_ipv6:
        raise params_error(f"ips: IPv6 addresses are not accepted ({item!r})")


def is_bound(ips: list[str]) -> bool:
    return ips != [UNBOUND]


def allows(ips: list[str], client_ip: str) -> bool:
    if not is_bound(ips):
        return True
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(item, strict=False) for item in ips)
