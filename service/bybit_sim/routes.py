"""The authenticated Bybit endpoints: handler, rate limit (bybit-v5.md 4.3) and who may call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bybit_sim import endpoints_keys as keys
from bybit_sim import endpoints_subaccounts as subs
from bybit_sim import endpoints_trade as trade
from bybit_sim import permissions
from bybit_sim.calls import Call
from bybit_sim.envelope import PERMISSION_DENIED_MSG, BybitError, Result, permission_denied
from bybit_sim.ratelimit import Limit

Handler = Callable[[Call], Result]
MANAGE = permissions.MANAGEMENT_WALLET_RIGHTS


@dataclass(frozen=True)
class Route:
    handler: Handler
    limit: Limit
    master_only: bool = False
    write: bool = False
    # The caller key needs at least one of these Wallet rights ("Required perms" tips).
    wallet_rights: frozenset[str] = frozenset()
    ok_msg: str = ""


ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/v5/user/create-sub-member"): Route(
        subs.create_sub_member, Limit(1), master_only=True, write=True, wallet_rights=MANAGE
    ),
    ("GET", "/v5/user/query-sub-members"): Route(
        subs.query_sub_members, Limit(10), master_only=True, wallet_rights=MANAGE
    ),
    ("GET", "/v5/user/submembers"): Route(subs.submembers, Limit(5), master_only=True),
    ("POST", "/v5/user/frozen-sub-member"): Route(
        subs.frozen_sub_member, Limit(5), master_only=True, write=True
    ),
    ("POST", "/v5/user/del-submember"): Route(
        subs.del_submember, Limit(5), master_only=True, write=True, ok_msg="OK"
    ),
    ("POST", "/v5/user/create-sub-api"): Route(
        keys.create_sub_api, Limit(1), master_only=True, write=True, wallet_rights=MANAGE
    ),
    # Master or the sub key itself; each role can only hold its own Wallet rights, so one set
    # covers both modes (master: AccountTransfer/SubMemberTransfer/Withdraw, sub: AccountTransfer/
    # SubMemberTransferList).
    ("POST", "/v5/user/update-sub-api"): Route(
        keys.update_sub_api, Limit(5), write=True, wallet_rights=MANAGE
    ),
    ("POST", "/v5/user/delete-sub-api"): Route(
        keys.delete_sub_api, Limit(5), write=True, wallet_rights=MANAGE
    ),
    ("GET", "/v5/user/query-api"): Route(keys.query_api, Limit(10)),
    ("GET", "/v5/user/sub-apikeys"): Route(keys.sub_apikeys, Limit(10), master_only=True),
    ("POST", "/v5/user/update-api"): Route(
        keys.update_api, Limit(5), master_only=True, write=True, wallet_rights=MANAGE
    ),
    ("POST", "/v5/user/delete-api"): Route(keys.delete_api, Limit(5), master_only=True, write=True),
    ("GET", "/v5/user/get-member-type"): Route(subs.get_member_type, Limit(10)),
    ("GET", "/v5/asset/transfer/query-sub-member-list"): Route(
        subs.query_sub_member_list, Limit(60, window_ms=60_000), master_only=True, ok_msg="success"
    ),
    ("GET", "/v5/account/wallet-balance"): Route(trade.wallet_balance, Limit(50), ok_msg="OK"),
    ("POST", "/v5/order/create"): Route(trade.create_order, Limit(10), write=True, ok_msg="OK"),
}


def check_caller(route: Route, call: Call) -> None:
    """The role, read-only and Wallet-right requirements of `route`, as 10005-style errors."""
    if route.master_only and not call.account.is_master:
        raise permission_denied()
    if route.write and call.key.read_only:
        raise BybitError(call.config.read_only_ret_code, PERMISSION_DENIED_MSG)
    if route.wallet_rights and not permissions.has_any(
        call.key.permissions, "Wallet", route.wallet_rights
    ):
        raise permission_denied()
