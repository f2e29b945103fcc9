#!/bin/sh
# Vault-side setup for keymint, run once by a Vault admin (safe to run again): the KV v2 mount,
# keymint's policy (keymint-policy.hcl beside this script), a Kubernetes auth role bound to the
# chart's ServiceAccount, and the Bybit master credential. See README.md here.
#
# Vault is reached the CLI's usual way (BAO_ADDR/BAO_TOKEN, or VAULT_ADDR/VAULT_TOKEN with
# BAO=vault). Every setting below has the chart's default; override through the environment.
set -eu

BAO=${BAO:-bao}
mount=${KEYMINT_VAULT_KV_MOUNT:-secret}        # chart: vault.kvMount
prefix=${KEYMINT_VAULT_PREFIX:-keymint}        # chart: vault.prefix
policy=${KEYMINT_POLICY:-keymint}
auth_mount=${KUBERNETES_AUTH_MOUNT:-kubernetes} # chart: vault.auth.kubernetes.mountPath
role=${KUBERNETES_ROLE:-keymint}               # chart: vault.auth.kubernetes.role
service_account=${KEYMINT_SERVICE_ACCOUNT:-keymint}  # the chart's ServiceAccount (release name)
namespace=${KEYMINT_NAMESPACE:-keymint}        # the release's namespace
token_ttl=${KEYMINT_TOKEN_TTL:-1h}             # keymint renews at 2/3 of it
token_max_ttl=${KEYMINT_TOKEN_MAX_TTL:-24h}    # then it logs in again
here=$(cd "$(dirname "$0")" && pwd)

# 1. The KV v2 engine keymint keeps its state in.
if ! "$BAO" secrets list -format=json | grep -qF "\"$mount/\": "; then
    "$BAO" secrets enable -path="$mount" -version=2 kv
fi

# 2. keymint's policy, for this mount and prefix (the substitution the tests make too:
#    keymint.own_vault_policy.render_policy).
sed -e "s|\"secret/data/keymint/|\"$mount/data/$prefix/|" \
    -e "s|\"secret/metadata/keymint/|\"$mount/metadata/$prefix/|" \
    "$here/keymint-policy.hcl" | "$BAO" policy write "$policy" -

# 3. Kubernetes auth, and the role keymint's pods log in with. The auth method's config is
#    written only when KUBERNETES_HOST is given (a shared Vault usually has it already); with
#    Vault outside the cluster, also give KUBERNETES_CA_CERT (a PEM file).
if ! "$BAO" auth list -format=json | grep -qF "\"$auth_mount/\": "; then
    "$BAO" auth enable -path="$auth_mount" kubernetes
fi
if [ -n "${KUBERNETES_HOST:-}" ]; then
    set -- kubernetes_host="$KUBERNETES_HOST"
    if [ -n "${KUBERNETES_CA_CERT:-}" ]; then
        set -- "$@" kubernetes_ca_cert=@"$KUBERNETES_CA_CERT"
    fi
    "$BAO" write "auth/$auth_mount/config" "$@"
fi
# No default policy: everything keymint calls is in its own policy, and nothing else.
"$BAO" write "auth/$auth_mount/role/$role" \
    bound_service_account_names="$service_account" \
    bound_service_account_namespaces="$namespace" \
    token_policies="$policy" \
    token_no_default_policy=true \
    token_ttl="$token_ttl" \
    token_max_ttl="$token_max_ttl"

# 4. The Bybit master credential, when given. The secret goes through stdin, never argv.
master="$prefix/config/master"
if [ -n "${BYBIT_API_KEY:-}${BYBIT_API_SECRET:-}${BYBIT_MASTER_UID:-}" ]; then
    : "${BYBIT_API_KEY:?is required with BYBIT_API_SECRET and BYBIT_MASTER_UID}"
    : "${BYBIT_API_SECRET:?is required with BYBIT_API_KEY and BYBIT_MASTER_UID}"
    : "${BYBIT_MASTER_UID:?is required with BYBIT_API_KEY and BYBIT_API_SECRET}"
    printf '%s' "$BYBIT_API_SECRET" | "$BAO" kv put -mount="$mount" "$master" \
        api_key="$BYBIT_API_KEY" master_uid="$BYBIT_MASTER_UID" api_secret=- >/dev/null
    echo "master credential written to $mount/$master"
else
    echo "master credential not written (set BYBIT_API_KEY, BYBIT_API_SECRET, BYBIT_MASTER_UID):" \
        "keymint answers 503 until $mount/$master holds api_key, api_secret and master_uid"
fi
