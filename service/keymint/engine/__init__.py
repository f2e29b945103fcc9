"""keymint's domain: roles, leases, minting, rotation, reconciliation, capacity.

Nothing here imports FastAPI, hvac or httpx: the outside systems are reached through the
adapters in `keymint.vault` and `keymint.bybit`.
"""
