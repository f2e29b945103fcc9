"""Runtime configuration of the simulator.

Every behaviour that the public facts (docs/bybit-v5.md) mark UNCONFIRMED is a field here, so a test
or an operator can switch to the other plausible answer without touching code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

NULL_WORDS = frozenset({"null", "none"})


class ConfigError(ValueError):
    """A config override that does not name a field or does not fit its type."""


class SimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- authentication -------------------------------------------------------------------------
    default_recv_window_ms: int = Field(5000, gt=0)  # DOC guide: default 5000
    future_tolerance_ms: int = Field(1000, ge=0)  # DOC guide: ts < server_time + 1000
    # UNCONFIRMED: Bybit documents no maximum recv_window; None accepts any.
    max_recv_window_ms: int | None = Field(None, gt=0)
    # UNCONFIRMED: pybit #130 saw HTTP 401 for a wrong key; the body pairing is not confirmed.
    invalid_key_http_status: int = Field(401, ge=200, le=599)
    # DOC: 401 when auth headers are missing; the body is UNCONFIRMED, we send 10003/10001 JSON.
    missing_auth_http_status: int = Field(401, ge=200, le=599)
    # UNCONFIRMED: "2023" = `error sign! origin_string[...]` (seen 2023), "2026" = masked prefix.
    sign_error_format: Literal["2023", "2026"] = "2023"
    # UNCONFIRMED: 10010 is only ever seen inside HTTP-200 handling.
    ip_mismatch_http_status: int = Field(200, ge=200, le=599)
    # UNCONFIRMED: which code /v5/user/* gives an expired key; 33004 is the documented one.
    expired_key_ret_code: int = 33004
    expired_key_ret_msg: str = "Your api key has expired"
    # UNCONFIRMED: undocumented what a frozen sub-account's key gets; "Permission denied" is likely.
    frozen_account_ret_code: int = 10005
    frozen_account_ret_msg: str = "Permission denied, please check your API key permissions."
    # UNCONFIRMED: read-only keys on write endpoints; [INFER] 10005.
    read_only_ret_code: int = 10005
    # UNCONFIRMED: an unknown /v5 path may be HTTP 404 or retCode 10017; the JSON body always
    # carries 10017 "Route not found." and this picks the HTTP status.
    unknown_path_http_status: int = Field(404, ge=200, le=599)

    # --- API keys -------------------------------------------------------------------------------
    key_expiry_days: float = Field(90, gt=0)  # DOC: unbound keys become invalid after 90 days
    expires_soon_days: float = Field(7, ge=0)  # DOC: sub-apikeys status 4 below 7 days
    # UNCONFIRMED: which edits restart the 90-day clock ([INFER] an IP edit).
    expiry_restarts_on: Literal["ip_edit", "any_edit", "never"] = "ip_edit"
    # UNCONFIRMED: -2 is the only value seen for IP-bound keys (2026 query-api example).
    bound_key_deadline_day: int = -2
    # UNCONFIRMED: no per-sub-UID key cap is documented; 20 is the project's assumption.
    max_keys_per_subaccount: int = Field(20, ge=1)
    # UNCONFIRMED: the real code and text are unknown; a 10001-style parameter error is likeliest.
    key_cap_ret_code: int = 10001
    key_cap_ret_msg: str = "The number of API keys for this sub-account has reached the limit."
    # UNCONFIRMED: no documented maximum number of IPs per key.
    max_ips_per_key: int = Field(20, ge=1)
    # UNCONFIRMED: CIDR and IPv6 support are undocumented; only plain IPv4 is documented.
    allow_cidr: bool = False
    allow_ipv6: bool = False
    # UNCONFIRMED: the note length limit is undocumented.
    max_note_length: int = Field(255, ge=1)
    # UNCONFIRMED: the docs say "don't pass ips ... means no bind"; the maintainers say omitted
    # fields are left alone. False keeps the binding when `ips` is omitted on update.
    update_omitted_ips_clears_binding: bool = False
    # UNCONFIRMED: readOnly "0 default" on update is ambiguous; False keeps the current value.
    update_omitted_read_only_resets: bool = False
    # UNCONFIRMED: updating without `permissions` worked on mainnet but failed on testnet.
    update_requires_permissions: bool = False
    # UNCONFIRMED: the code for create-sub-api without any permission group ([INFER] 10001).
    missing_permissions_ret_code: int = 10001
    # INFER: "system will automatically add" DerivativesTrade for UTA subs holding ContractTrade.
    auto_add_derivatives_trade: bool = False
    # UNCONFIRMED: whether "0"-style strings are accepted for int fields (and ints for string ids).
    lenient_types: bool = False

    # --- sub-accounts ---------------------------------------------------------------------------
    # UNCONFIRMED: 20 for standard users in 2020, far more for institutions today.
    max_subaccounts_per_master: int = Field(1000, ge=0)
    subaccount_cap_ret_code: int = 10001  # UNCONFIRMED: the real code is unknown
    subaccount_cap_ret_msg: str = "The number of sub-accounts has reached the limit."
    # UNCONFIRMED text for the observed code 31005 (username taken).
    duplicate_username_ret_msg: str = "The username already exists."
    # UNCONFIRMED text for the observed code 141009 (sub-account not found).
    sub_not_found_ret_msg: str = "The sub-account does not exist."
    # UNCONFIRMED: the default pageSize of /v5/user/submembers.
    submembers_default_page_size: int = Field(100, ge=1, le=100)

    # --- rate limits ----------------------------------------------------------------------------
    # Multiplies every per-UID limit (floored, at least 1 per window) so benchmarks run fast.
    rate_limit_scale: float = Field(1.0, gt=0)
    ip_limit_requests: int = Field(600, ge=1)  # DOC: 600 requests per 5 s per IP
    ip_limit_window_seconds: float = Field(5, gt=0)
    ip_ban_seconds: float = Field(600, ge=0)  # DOC: "wait at least 10 minutes"
    # UNCONFIRMED: the exact 403 body; it may not be JSON.
    ip_limit_body: str = "access too frequent"

    # --- faults and trading ---------------------------------------------------------------------
    # How long a `timeout` fault holds the connection before closing it unanswered.
    fault_timeout_hold_seconds: float = Field(300, gt=0)
    # The USDT wallet balance every account reports from /v5/account/wallet-balance.
    wallet_usdt_balance: str = "10000"


def apply_overrides(base: SimConfig, overrides: dict[str, object]) -> SimConfig:
    """A new config with `overrides` applied; raises ConfigError naming the first bad field."""
    try:
        return SimConfig.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        raise ConfigError(first_problem(exc)) from exc


def first_problem(exc: ValidationError) -> str:
    """One line naming the first invalid field, for error answers and CLI messages."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


def parse_cli_overrides(pairs: list[str]) -> dict[str, object]:
    """`KEY=VALUE` strings from the command line; `null`/`none` stand for None."""
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"expected KEY=VALUE, got {pair!r}")
        overrides[key.strip()] = None if value.strip().lower() in NULL_WORDS else value
    return overrides
