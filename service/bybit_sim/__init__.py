"""A Bybit V5 REST simulator. Written independently of keymint: it imports nothing from it."""
