"""API-key endpoints (bybit-v5.md 5.7-5.13); the caller checks live in routes.

Field names and types differ between endpoints on purpose: `apikey` in requests but `apiKey` in
responses, `readOnly` an int except in sub-apikeys (a bool), the secret only in the create answer.
"""

from __future__ import annotations

from collections.abc import Callable

from bybit_sim import envelope, expiry, permissions
from bybit_sim.calls import Call
from bybit_sim.clock import iso_utc
from bybit_sim.envelope import BybitError, Result, params_error
from bybit_sim.ips import UNBOUND, parse_ips
from bybit_sim.params import page_after
from bybit_sim.permissions import Permissions
from bybit_sim.state import ApiKey, NewKey

PERSONAL_KEY_TYPE = 1
LISTED_SECRET = "******"
SUB_APIKEYS_DEFAULT_LIMIT = 20
SENSITIVE_PERMISSION_CHANGE = 141020
SENSITIVE_PERMISSION_MSG = (
    "To change read and write permissions for sensitive actions, go to API management and "
    "select Edit"
)

PermissionParser = Callable[[Call, object], Permissions]


def _sub_permissions(call: Call, raw: object) -> Permissions:
    perms = permissions.parse(raw, master=False)
    if call.config.auto_add_derivatives_trade and perms["ContractTrade"]:
        perms["Derivatives"] = ["DerivativesTrade"]
    return perms


def _master_permissions(call: Call, raw: object) -> Permissions:
    return permissions.parse(raw, master=True)


def _key_view(key: ApiKey, secret: str) -> Result:
    return {
        "id": key.id,
        "note": key.note,
        "apiKey": key.api_key,
        "readOnly": key.read_only,
        "secret": secret,
        "permissions": key.permissions,
    }


def _updated_view(key: ApiKey) -> Result:
    return {**_key_view(key, ""), "ips": list(key.ips)}


def create_sub_api(call: Call) -> Result:
    params, config, state = call.params, call.config, call.state
    sub = state.sub_of(call.account.uid, params.req_int("subuid"))
    if sub is None:
        raise BybitError(envelope.SUB_NOT_FOUND, config.sub_not_found_ret_msg)
    read_only = params.req_int("readOnly", (0, 1))
    note = params.note(config.max_note_length)
    ips = parse_ips(params.raw("ips"), config) if params.has("ips") else [UNBOUND]
    raw_permissions = params.raw("permissions")
    if not raw_permissions:
        raise BybitError(
            config.missing_permissions_ret_code,
            "params error: permissions must name at least one permission group",
        )
    perms = _sub_permissions(call, raw_permissions)
    if len(state.keys_of(sub.uid)) >= config.max_keys_per_subaccount:
        raise BybitError(config.key_cap_ret_code, config.key_cap_ret_msg)
    key = state.add_key(
        NewKey(uid=sub.uid, read_only=read_only, ips=ips, permissions=perms, note=note),
        call.now_ms,
    )
    return _key_view(key, key.secret)


def _target_sub_key(call: Call) -> ApiKey:
    """The key update-sub-api / delete-sub-api act on, by the caller mode (bybit-v5.md 5.8)."""
    params = call.params
    if not call.account.is_master:
        if params.has("apikey"):
            raise params_error("apikey must not be sent when a sub-account key acts on itself")
        return call.key
    apikey = params.opt_str("apikey")
    if not apikey:
        raise params_error("apikey is required when the master key acts on a sub-account key")
    target = call.state.keys.get(apikey)
    if target is None or call.state.sub_of(call.account.uid, target.uid) is None:
        raise params_error("apikey is not an API key of this master's sub-accounts")
    return target


def _apply_update(
    call: Call, target: ApiKey, parse_permissions: PermissionParser, *, ips_editable: bool
) -> Result:
    params, config = call.params, call.config
    if config.update_requires_permissions and not params.has("permissions"):
        raise params_error("permissions is required")
    read_only = params.opt_int("readOnly", (0, 1))
    if read_only is None:
        read_only = 0 if config.update_omitted_read_only_resets else target.read_only
    ips = target.ips
    if ips_editable and params.has("ips"):
        ips = parse_ips(params.raw("ips"), config)
    elif ips_editable and config.update_omitted_ips_clears_binding:
        ips = [UNBOUND]
    perms = target.permissions
    if params.has("permissions"):
        perms = parse_permissions(call, params.raw("permissions"))
    locked_changed = any(
        perms[group] != target.permissions[group] for group in permissions.READ_WRITE_LOCKED_GROUPS
    )
    if read_only == 0 and locked_changed:
        raise BybitError(SENSITIVE_PERMISSION_CHANGE, SENSITIVE_PERMISSION_MSG)
    ips_changed = ips != target.ips
    target.read_only, target.ips, target.permissions = read_only, ips, perms
    expiry.note_edit(target, ips_changed=ips_changed, now_ms=call.now_ms, config=config)
    call.state.dirty = True
    return _updated_view(target)


def update_sub_api(call: Call) -> Result:
    return _apply_update(call, _target_sub_key(call), _sub_permissions, ips_editable=True)


def delete_sub_api(call: Call) -> Result:
    call.state.remove_key(_target_sub_key(call).api_key)
    return {}


def update_api(call: Call) -> Result:
    # Since 2026-02-10 a master key's IPs can only be changed on the website.
    if call.params.has("ips"):
        raise BybitError(envelope.MASTER_IP_EDIT_FORBIDDEN, envelope.MASTER_IP_EDIT_MSG)
    return _apply_update(call, call.key, _master_permissions, ips_editable=False)


def delete_api(call: Call) -> Result:
    call.state.remove_key(call.key.api_key)
    return {}


def query_api(call: Call) -> Result:
    key, account = call.key, call.account
    validity = expiry.validity(key, call.now_ms, call.config)
    return {
        **_updated_view(key),
        "type": PERSONAL_KEY_TYPE,
        "deadlineDay": validity.deadline_day,
        "expiredAt": validity.expired_at,
        "createdAt": iso_utc(key.created_ms),
        "unified": 0,
        "uta": 1,
        "userID": account.uid,
        "inviterID": 0,
        "vipLevel": "No VIP",
        "mktMakerLevel": "0",
        "affiliateID": 0,
        "rsaPublicKey": key.rsa_public_key,
        "isMaster": account.is_master,
        "parentUid": str(account.parent_uid),
        "kycLevel": "LEVEL_1" if account.is_master else "LEVEL_DEFAULT",
        "kycRegion": "",
        "userIDInt64": str(account.uid),
        "inviterIDInt64": "0",
        "affiliateIDInt64": "0",
    }


def _listed(key: ApiKey, call: Call) -> Result:
    validity = expiry.validity(key, call.now_ms, call.config)
    return {
        "id": key.id,
        "ips": list(key.ips),
        "apiKey": key.api_key,
        "note": key.note,
        "status": validity.status,
        "expiredAt": validity.expired_at,
        "createdAt": iso_utc(key.created_ms),
        "type": PERSONAL_KEY_TYPE,
        "permissions": key.permissions,
        "secret": LISTED_SECRET,
        "readOnly": bool(key.read_only),
        "deadlineDay": validity.deadline_day,
        "flag": key.flag,
    }


def sub_apikeys(call: Call) -> Result:
    params = call.params
    sub_text = params.req_str("subMemberId")
    sub = call.state.sub_of(call.account.uid, int(sub_text)) if sub_text.isdigit() else None
    if sub is None:
        raise params_error(f"invalid subMemberId {sub_text!r}")
    limit = params.opt_int("limit", range(1, 21)) or SUB_APIKEYS_DEFAULT_LIMIT
    keys = call.state.keys_of(sub.uid)
    page, more = page_after(keys, lambda k: int(k.id), params.opt_str("cursor"), limit)
    return {
        "result": [_listed(key, call) for key in page],
        "nextPageCursor": page[-1].id if more else "",
    }
