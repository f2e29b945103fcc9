"""Sub-account endpoints (bybit-v5.md 5.1-5.6, 5.14, 5.15); the caller checks live in routes."""

from __future__ import annotations

from bybit_sim import envelope
from bybit_sim.calls import Call
from bybit_sim.envelope import BybitError, Result, params_error
from bybit_sim.params import page_after
from bybit_sim.state import FROZEN_STATUS, NORMAL_STATUS, Account

UTA2_ACCOUNT_MODE = 5  # sub-accounts are always UTA; 5 = UTA2.0
QUERY_SUB_MEMBERS_MAX = 1000
SUB_UID_LIST_MAX = 2000
MEMBER_TYPES_MAX_IDS = 200


def _check_username(username: str) -> None:
    if not (6 <= len(username) <= 16 and username.isascii() and username.isalnum()):
        raise params_error("username must be 6-16 letters and digits")
    if username.isdigit() or username.isalpha():
        raise params_error("username must contain both letters and digits")


def _check_password(password: str) -> None:
    if not 8 <= len(password) <= 30:
        raise params_error("password must be 8-30 characters")
    checks = (str.isdigit, str.isupper, str.islower)
    if not all(any(check(ch) for ch in password) for check in checks):
        raise params_error("password must contain digits, upper-case and lower-case letters")


def _member(account: Account) -> Result:
    return {
        "uid": str(account.uid),
        "username": account.username,
        "memberType": account.member_type,
        "status": account.status,
        "remark": account.remark,
        "accountMode": UTA2_ACCOUNT_MODE,
    }


def _sub_or_missing(call: Call, uid: int) -> Account:
    sub = call.state.sub_of(call.account.uid, uid)
    if sub is None:
        raise BybitError(envelope.SUB_NOT_FOUND, call.config.sub_not_found_ret_msg)
    return sub


def _uid_text(value: str, name: str) -> int:
    if not value.isdigit():
        raise params_error(f"{name} must be a numeric UID string")
    return int(value)


def create_sub_member(call: Call) -> Result:
    params, config, state = call.params, call.config, call.state
    username = params.req_str("username")
    _check_username(username)
    password = params.opt_str("password")
    if password is not None:
        _check_password(password)
    member_type = params.req_int("memberType", (1, 6))
    params.opt_int("switch", (0, 1))
    note = params.note(config.max_note_length)
    if username in state.usernames:
        raise BybitError(envelope.USERNAME_TAKEN, config.duplicate_username_ret_msg)
    if len(state.subs_of(call.account.uid)) >= config.max_subaccounts_per_master:
        raise BybitError(config.subaccount_cap_ret_code, config.subaccount_cap_ret_msg)
    sub = state.add_account(username, member_type, call.account.uid, note, call.now_ms)
    return {
        "uid": str(sub.uid),
        "username": sub.username,
        "memberType": sub.member_type,
        "status": sub.status,
        "remark": sub.remark,
    }


def query_sub_members(call: Call) -> Result:
    subs = call.state.subs_of(call.account.uid)[:QUERY_SUB_MEMBERS_MAX]
    return {"subMembers": [_member(sub) for sub in subs]}


def submembers(call: Call) -> Result:
    page_size_text = call.params.opt_str("pageSize")
    page_size = call.config.submembers_default_page_size
    if page_size_text is not None:
        if not page_size_text.isdigit() or not 1 <= int(page_size_text) <= 100:
            raise params_error("pageSize must be a number from 1 to 100")
        page_size = int(page_size_text)
    cursor = call.params.opt_str("nextCursor")
    subs = call.state.subs_of(call.account.uid)
    page, more = page_after(subs, lambda a: a.uid, None if cursor == "0" else cursor, page_size)
    return {
        "subMembers": [_member(sub) for sub in page],
        "nextCursor": str(page[-1].uid) if more else "0",
    }


def frozen_sub_member(call: Call) -> Result:
    sub = _sub_or_missing(call, call.params.req_int("subuid"))
    frozen = call.params.req_int("frozen", (0, 1))
    sub.status = FROZEN_STATUS if frozen else NORMAL_STATUS
    call.state.dirty = True
    return {}


def del_submember(call: Call) -> Result:
    sub = _sub_or_missing(call, _uid_text(call.params.req_str("subMemberId"), "subMemberId"))
    call.state.remove_account(sub.uid)
    return {}


def get_member_type(call: Call) -> Result:
    accounts = [call.account]
    member_ids = call.params.opt_str("memberIds")
    # A sub-account key only ever sees itself; memberIds is ignored for it.
    if call.account.is_master and member_ids:
        uids = [_uid_text(part.strip(), "memberIds") for part in member_ids.split(",")]
        if len(uids) > MEMBER_TYPES_MAX_IDS:
            raise params_error(f"memberIds takes at most {MEMBER_TYPES_MAX_IDS} UIDs")
        for uid in dict.fromkeys(uids):
            if uid == call.account.uid:
                continue
            sub = call.state.sub_of(call.account.uid, uid)
            if sub is None:
                raise params_error(f"memberIds: {uid} is not a sub-account of this master")
            accounts.append(sub)
    return {"accounts": [{"uid": str(a.uid), "accountType": ["UNIFIED", "FUND"]} for a in accounts]}


def query_sub_member_list(call: Call) -> Result:
    subs = call.state.subs_of(call.account.uid)[:SUB_UID_LIST_MAX]
    return {
        "subMemberIds": [str(sub.uid) for sub in subs],
        "transferableSubMemberIds": [str(sub.uid) for sub in subs if not sub.frozen],
    }
