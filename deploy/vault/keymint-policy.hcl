# keymint's own Vault policy: everything keymint's token needs, and nothing more.
#
# Written for KV v2 mounted at `secret` and keymint's prefix `keymint` (KEYMINT_VAULT_KV_MOUNT,
# KEYMINT_VAULT_PREFIX; the chart's vault.kvMount and vault.prefix). For another mount or prefix,
# replace `secret/data/keymint/` and `secret/metadata/keymint/` in the paths; setup.sh does.
#
# The tests run keymint with a token holding only this policy (no `default` policy), so a call
# keymint makes and this file does not allow fails the suite.

# keymint's records: every write is a check-and-set, which KV v2 counts as create (new key) or
# update (existing key).
path "secret/data/keymint/*" {
  capabilities = ["create", "read", "update"]
}

# Listing folders, and removing a record (after its check-and-set tombstone write).
path "secret/metadata/keymint/*" {
  capabilities = ["list", "delete"]
}

# The Bybit master credential is written by operators (`bao kv put`), never by keymint.
path "secret/data/keymint/config/master" {
  capabilities = ["read"]
}

path "secret/metadata/keymint/config/master" {
  capabilities = ["deny"]
}

# Token auth (KEYMINT_VAULT_AUTH_METHOD=token) reads its token's TTL at start.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# keymint renews its token at 2/3 of its TTL.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

# Leases die with their token: the leader asks, by accessor, whether each token that minted a
# live lease still exists (KEYMINT_TOKEN_CHECK_INTERVAL_S). It reads the token's metadata only;
# lookup-accessor never returns the token itself.
path "auth/token/lookup-accessor" {
  capabilities = ["update"]
}

# X-Vault-Wrap-TTL: a minted secret handed out as a single-use wrapping token.
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}
