"""Dynamic roles: a fresh key per lease, renewed, expired and revoked like a Vault lease."""
