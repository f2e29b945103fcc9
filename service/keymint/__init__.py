"""keymint: short-lived Bybit sub-account API keys, brokered like a Vault secrets engine."""

__version__ = "0.1.0"
