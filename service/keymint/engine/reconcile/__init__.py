"""Reconciliation: what Bybit holds, set against the sub-account records in Vault."""
