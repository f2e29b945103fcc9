"""Bybit's response envelope, its error type, and the reply value every layer hands back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"

PARAMS_ERROR = 10001
TIMESTAMP_ERROR = 10002
INVALID_KEY = 10003
SIGN_ERROR = 10004
PERMISSION_DENIED = 10005
TOO_MANY_VISITS = 10006
UNMATCHED_IP = 10010
ROUTE_NOT_FOUND = 10017
USERNAME_TAKEN = 31005
SUB_NOT_FOUND = 141009
MASTER_IP_EDIT_FORBIDDEN = 141019

PERMISSION_DENIED_MSG = "Permission denied, please check your API key permissions."
INVALID_KEY_MSG = "API key is invalid."
UNMATCHED_IP_MSG = "Unmatched IP, please check your API key's bound IP addresses."
TOO_MANY_VISITS_MSG = "Too many visits!"
ROUTE_NOT_FOUND_MSG = "Route not found."
MASTER_IP_EDIT_MSG = "To add or update the IP whitelist, go to API management and select Edit"

Result = dict[str, object]


class BybitError(Exception):
    """An answer with a non-zero retCode; `http_status` is 200 unless Bybit uses another."""

    def __init__(self, code: int, msg: str, http_status: int = 200) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status


def params_error(detail: str) -> BybitError:
    # Real 10001 texts vary ("params error: ..."); a clear detail helps whoever reads the log.
    return BybitError(PARAMS_ERROR, f"params error: {detail}")


def permission_denied() -> BybitError:
    return BybitError(PERMISSION_DENIED, PERMISSION_DENIED_MSG)


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    ret_code: int | None = None


def bybit_reply(code: int, msg: str, result: Result, now_ms: int, http_status: int = 200) -> Reply:
    # Compact separators and this key order match what the real API sends.
    body = {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now_ms}
    return Reply(
        status=http_status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        ret_code=code,
    )


def error_reply(error: BybitError, now_ms: int) -> Reply:
    return bybit_reply(error.code, error.msg, {}, now_ms, error.http_status)


def text_reply(status: int, text: str) -> Reply:
    return Reply(status=status, body=text.encode(), content_type=TEXT_TYPE)
