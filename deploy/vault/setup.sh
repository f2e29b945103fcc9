#!/bin/sh
# Vault-side setup for keymint, run once by a Vault admin (safe to run again): the KV v2 mount,
# keymint's policy (keymint-policy.hcl beside this script), the login keymint uses (a Kubernetes
# auth role bound to the chart's ServiceAccount, or with KEYMINT_VAULT_AUTH=approle an AppRole),
# and the Bybit master credential. See README.md here.
#
# Vault is reached the CLI's usual way (BAO_ADDR/BAO_TOKEN, or VAULT_ADDR/VAULT_TOKEN with
# BAO=vault). Every setting below has the chart's default; override through the environment.
set -eu

BAO=${BAO:-bao}
mount=${KEYMINT_VAULT_KV_MOUNT:-secret}        # chart: vault.kvMount
prefix=${KEYMINT_VAULT_PREFIX:-keymint}        # chart: vault.prefix
policy=${KEYMINT_POLICY:-keymint}
auth=${KEYMINT_VAULT_AUTH:-kubernetes}           # kubernetes (the chart) or approle (compose, VMs)
auth_mount=${KUBERNETES_AUTH_MOUNT:-kubernetes} # chart: vault.auth.kubernetes.mountPath
role=${KUBERNETES_ROLE:-keymint}               # chart: vault.auth.kubernetes.role
approle_mount=${APPROLE_AUTH_MOUNT:-approle}   # chart: vault.auth.approle.mountPath
approle=${APPROLE_ROLE:-keymint}
approle_out=${KEYMINT_APPROLE_DIR:-}           # where role-id and secret-id files are written
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

# 3. How keymint logs in. Kubernetes: a role bound to the chart's ServiceAccount; the auth
#    method's config is written only when KUBERNETES_HOST is given (a shared Vault usually has
#    it already); with Vault outside the cluster, also give KUBERNETES_CA_CERT (a PEM file).
#    AppRole: a role whose role-id and a fresh secret-id (made once: an existing file is kept)
#    go to KEYMINT_APPROLE_DIR, mode 0600, for KEYMINT_VAULT_APPROLE_ROLE_ID_FILE and
#    KEYMINT_VAULT_APPROLE_SECRET_ID_FILE. No default policy either way: everything keymint
#    calls is in its own policy, and nothing else.
case "$auth" in
kubernetes)
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
    "$BAO" write "auth/$auth_mount/role/$role" \
        bound_service_account_names="$service_account" \
        bound_service_account_namespaces="$namespace" \
        token_policies="$policy" \
        token_no_default_policy=true \
        token_ttl="$token_ttl" \
        token_max_ttl="$token_max_ttl"
    ;;
approle)
    if ! "$BAO" auth list -format=json | grep -qF "\"$approle_mount/\": "; then
        "$BAO" auth enable -path="$approle_mount" approle
    fi
    "$BAO" write "auth/$approle_mount/role/$approle" \
        token_policies="$policy" \
        token_no_default_policy=true \
        token_ttl="$token_ttl" \
        token_max_ttl="$token_max_ttl"
    role_id=$("$BAO" read -field=role_id "auth/$approle_mount/role/$approle/role-id")
    if [ -n "$approle_out" ]; then
        mkdir -p "$approle_out"
        (umask 077
         printf '%s\n' "$role_id" >"$approle_out/role-id"
         if [ ! -s "$approle_out/secret-id" ]; then
             "$BAO" write -f -field=secret_id "auth/$approle_mount/role/$approle/secret-id" \
                 >"$approle_out/secret-id.new"
             mv "$approle_out/secret-id.new" "$approle_out/secret-id"
         fi)
        echo "AppRole $approle_mount/$approle: role-id and secret-id in $approle_out"
    else
        echo "AppRole $approle_mount/$approle: role_id $role_id; make its secret-id with" \
            "'$BAO write -f auth/$approle_mount/role/$approle/secret-id'"
    fi
    ;;
*)
    echo "$0: KEYMINT_VAULT_AUTH=$auth: expected kubernetes or approle" >&2
    exit 2
    ;;
esac

# 4. The Bybit master credential, when given. The secret goes through stdin, never argv.
master="$prefix/config/master"
if [ -n "${BYBIT_API_KEY:-}${BYBIT_API_SECRET:-}${BYBIT_MASTER_UID:-}" ]; then
    : "${BYBIT_API_KEY:?is required with BYBIT_API_SECRET and BYBIT_MASTER_UID}"
    : "${BYBIT_API_SECRET:?is required with BYBIT_API_KEY and BYBIT_MASTER_UID}"
    : "${BYBIT_MASTER_UID:?is required with BYBIT_API_KEY and BYBIT_API_SECRET}"
    printf '%s' "$BYBIT_API_SECRET" | "$BAO" kv put -mount="$mount" "$master" \
        api_key="$BYBIT_API_KEY" master_uid="$BYBIT_MASTER_UID" api_secret=- >/dev/null
    echo "master credential written to $mount/$master"
elif "$BAO" kv metadata get -mount="$mount" "$master" >/dev/null 2>&1; then
    echo "master credential at $mount/$master left as it is"
else
    echo "master credential not written (set BYBIT_API_KEY, BYBIT_API_SECRET, BYBIT_MASTER_UID):" \
        "keymint answers 503 until $mount/$master holds api_key, api_secret and master_uid"
fi
