"""The trading surface a minted key is tried on: a wallet balance and order placement.

Orders are accepted and forgotten; what matters is that a key gets exactly the rights it holds.
"""

from __future__ import annotations

import uuid

from bybit_sim import permissions
from bybit_sim.calls import Call
from bybit_sim.envelope import Result, params_error, permission_denied

# category -> the (group, value) a key needs to place an order in it
ORDER_RIGHTS: dict[str, tuple[str, str]] = {
    "spot": ("Spot", "SpotTrade"),
    "linear": ("ContractTrade", "Order"),
    "inverse": ("ContractTrade", "Order"),
    "option": ("Options", "OptionsTrade"),
}


def _coin_row(coin: str, amount: str) -> Result:
    return {
        "coin": coin,
        "equity": amount,
        "usdValue": amount,
        "walletBalance": amount,
        "locked": "0",
        "borrowAmount": "0",
        "accruedInterest": "0",
        "totalOrderIM": "0",
        "totalPositionIM": "0",
        "totalPositionMM": "0",
        "unrealisedPnl": "0",
        "cumRealisedPnl": "0",
        "bonus": "0",
        "spotHedgingQty": "0",
        "availableToWithdraw": "",
        "availableToBorrow": "",
        "collateralSwitch": True,
        "marginCollateral": True,
    }


def wallet_balance(call: Call) -> Result:
    account_type = call.params.req_str("accountType")
    if account_type != "UNIFIED":
        raise params_error("accountType only support UNIFIED")
    amount = call.config.wallet_usdt_balance
    coins = call.params.opt_str("coin")
    wanted = {c.strip() for c in coins.split(",")} if coins else {"USDT"}
    return {
        "list": [
            {
                "accountType": "UNIFIED",
                "totalEquity": amount,
                "totalWalletBalance": amount,
                "totalMarginBalance": amount,
                "totalAvailableBalance": amount,
                "totalPerpUPL": "0",
                "totalInitialMargin": "0",
                "totalMaintenanceMargin": "0",
                "accountIMRate": "0",
                "accountMMRate": "0",
                "accountLTV": "0",
                "coin": [_coin_row("USDT", amount)] if "USDT" in wanted else [],
            }
        ]
    }


def create_order(call: Call) -> Result:
    params = call.params
    category = params.req_str("category")
    if category not in ORDER_RIGHTS:
        raise params_error(f"category must be one of {', '.join(ORDER_RIGHTS)}")
    group, value = ORDER_RIGHTS[category]
    if not permissions.has_any(call.key.permissions, group, (value,)):
        raise permission_denied()
    params.req_str("symbol")
    if params.req_str("side") not in ("Buy", "Sell"):
        raise params_error("side must be Buy or Sell")
    order_type = params.req_str("orderType")
    if order_type not in ("Market", "Limit"):
        raise params_error("orderType must be Market or Limit")
    params.req_str("qty")
    if order_type == "Limit":
        params.req_str("price")
    return {"orderId": str(uuid.uuid4()), "orderLinkId": params.opt_str("orderLinkId") or ""}
