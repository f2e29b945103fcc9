"""Bybit V5 REST hosts by environment name."""

from urllib.parse import urlsplit

HOSTS: dict[str, str] = {
    "mainnet": "https://api.bybit.com",
    "bytick": "https://api.bytick.com",
    "testnet": "https://api-testnet.bybit.com",
    "demo": "https://api-demo.bybit.com",
    "demo-testnet": "https://api-demo-testnet.bybit.com",
    "nl": "https://api.bybit.nl",
    # Bybit moved Turkey from api.bybit-tr.com on 2026-03-31; pybit still has the old host.
    "tr": "https://api.bybit.tr",
    "kz": "https://api.bybit.kz",
    "ge": "https://api.bybitgeorgia.ge",
    "ae": "https://api.bybit.ae",
    "eu": "https://api.bybit.eu",
    "id": "https://api.bybit.id",
    "jp": "https://api.manepa.jp",
    "jp-testnet": "https://api-testnet.manepa.jp",
}


def resolve_base_url(name_or_url: str) -> str:
    """Return the REST base URL (no trailing slash) for an environment name or an http(s) URL.

    A custom URL is how keymint reaches the simulator; it must not carry a query or fragment,
    because request paths are appended to it verbatim.
    """
    value = name_or_url.strip()
    if value.lower() in HOSTS:
        return HOSTS[value.lower()]
    parts = urlsplit(value)
    plain = not parts.query and not parts.fragment
    if parts.scheme in ("http", "https") and parts.netloc and plain:
        return value.rstrip("/")
    accepted = ", ".join(HOSTS)
    raise ValueError(
        f"unknown Bybit environment {name_or_url!r}: use one of {accepted} "
        "or an http(s):// base URL"
    )
