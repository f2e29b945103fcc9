"""Request authentication (bybit-v5.md section 2): headers, timestamp window, signature, key state.

The signed payload is the query string exactly as it arrived in the request line (GET) or the raw
body bytes (POST). Nothing is decoded or re-serialised: a client that signs anything other than
the bytes it sends gets 10004, as on the real API.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from bybit_sim import envelope, expiry, ips, rsa_keys
from bybit_sim.envelope import BybitError
from bybit_sim.sim import Simulator
from bybit_sim.state import Account, ApiKey

API_KEY_HEADER = "x-bapi-api-key"
TIMESTAMP_HEADER = "x-bapi-timestamp"
SIGN_HEADER = "x-bapi-sign"
RECV_WINDOW_HEADER = "x-bapi-recv-window"


@dataclass(frozen=True)
class SignedHeaders:
    api_key: str
    timestamp: str
    sign: str
    # As sent: it is part of the signed string, and "" there when the header is absent.
    recv_window: str

    def origin(self, payload: bytes) -> bytes:
        return (self.timestamp + self.api_key + self.recv_window).encode() + payload


def _read_headers(headers: Mapping[str, str], sim: Simulator) -> SignedHeaders:
    status = sim.config.missing_auth_http_status
    api_key = headers.get(API_KEY_HEADER, "")
    if not api_key:
        raise BybitError(envelope.INVALID_KEY, envelope.INVALID_KEY_MSG, status)
    for name in (TIMESTAMP_HEADER, SIGN_HEADER):
        if not headers.get(name):
            raise BybitError(
                envelope.PARAMS_ERROR, f"params error: missing header {name.upper()}", status
            )
    return SignedHeaders(
        api_key=api_key,
        timestamp=headers[TIMESTAMP_HEADER],
        sign=headers[SIGN_HEADER],
        recv_window=headers.get(RECV_WINDOW_HEADER, ""),
    )


def _check_timestamp(signed: SignedHeaders, sim: Simulator) -> None:
    config = sim.config
    if not signed.timestamp.isdigit():
        raise envelope.params_error("X-BAPI-TIMESTAMP must be epoch milliseconds")
    if signed.recv_window and not signed.recv_window.isdigit():
        raise envelope.params_error("X-BAPI-RECV-WINDOW must be a number of milliseconds")
    recv_window = int(signed.recv_window) if signed.recv_window else config.default_recv_window_ms
    if config.max_recv_window_ms is not None and recv_window > config.max_recv_window_ms:
        raise envelope.params_error(f"recv_window must not exceed {config.max_recv_window_ms}")
    ts = int(signed.timestamp)
    now = sim.clock.now_ms()
    if not now - recv_window <= ts < now + config.future_tolerance_ms:
        raise BybitError(
            envelope.TIMESTAMP_ERROR,
            "invalid request, please check your server timestamp or recv_window param. "
            f"req_timestamp[{ts}],server_timestamp[{now}],recv_window[{recv_window}]",
        )


def _signature_ok(key: ApiKey, origin: bytes, sign: str) -> bool:
    if key.rsa_public_key:
        return rsa_keys.verify(key.rsa_public_key, sign, origin)
    expected = hmac.new(key.secret.encode(), origin, hashlib.sha256).hexdigest()
    # Header values arrive as latin-1 text; comparing bytes keeps compare_digest ASCII-safe.
    return hmac.compare_digest(expected.encode(), sign.encode("latin-1"))


def _sign_error(signed: SignedHeaders, payload: bytes, sim: Simulator) -> BybitError:
    shown = payload.decode(errors="replace")
    if sim.config.sign_error_format == "2026":
        # Newer servers mask the timestamp+key+recvWindow prefix.
        return BybitError(
            envelope.SIGN_ERROR,
            "Error sign, please check your signature generation algorithm: "
            f"origin_string[***{shown}]",
        )
    prefix = signed.timestamp + signed.api_key + signed.recv_window
    return BybitError(envelope.SIGN_ERROR, f"error sign! origin_string[{prefix}{shown}]")


def authenticate(
    headers: Mapping[str, str], payload: bytes, client_ip: str, sim: Simulator
) -> tuple[ApiKey, Account]:
    """The calling key and its account, or the BybitError the real API would answer."""
    signed = _read_headers(headers, sim)
    _check_timestamp(signed, sim)
    key = sim.state.keys.get(signed.api_key)
    account = sim.state.accounts.get(key.uid) if key is not None else None
    if key is None or account is None:
        raise BybitError(
            envelope.INVALID_KEY, envelope.INVALID_KEY_MSG, sim.config.invalid_key_http_status
        )
    if not _signature_ok(key, signed.origin(payload), signed.sign):
        raise _sign_error(signed, payload, sim)
    config = sim.config
    if expiry.validity(key, sim.clock.now_ms(), config).expired:
        raise BybitError(config.expired_key_ret_code, config.expired_key_ret_msg)
    if not ips.allows(key.ips, client_ip):
        raise BybitError(
            envelope.UNMATCHED_IP, envelope.UNMATCHED_IP_MSG, config.ip_mismatch_http_status
        )
    if account.frozen:
        raise BybitError(config.frozen_account_ret_code, config.frozen_account_ret_msg)
    return key, account
