"""Every retCode and HTTP status lands in the class a caller acts on."""

import pytest

from keymint.bybit import (
    AuthError,
    BybitError,
    CreateOutcome,
    CreateOutcomeLost,
    InvalidRequestError,
    IpNotAllowedError,
    KeyCapError,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from keymint.bybit.errors import error_for

CREATE = "/v5/user/create-sub-api"


@pytest.mark.parametrize(
    ("ret_code", "cls"),
    [
        (10002, AuthError),
        (10003, AuthError),
        (10004, AuthError),
        (10007, AuthError),
        (33004, AuthError),
        (10005, PermissionDeniedError),
        (10010, IpNotAllowedError),
        (10006, RateLimitError),
        (10016, ServerError),
        (10001, InvalidRequestError),
        (31005, InvalidRequestError),
        (141009, InvalidRequestError),
    ],
)
def test_ret_codes(ret_code: int, cls: type[BybitError]) -> None:
    error = error_for(
        endpoint="/v5/user/query-api", http_status=200, ret_code=ret_code, ret_msg="m"
    )
    assert type(error) is cls
    assert (error.ret_code, error.ret_msg, error.http_status) == (ret_code, "m", 200)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, AuthError),
        (403, RateLimitError),
        (429, RateLimitError),
        (404, InvalidRequestError),
        (400, InvalidRequestError),
        (500, ServerError),
        (502, ServerError),
        (200, ServerError),  # a 200 without a JSON envelope
    ],
)
def test_http_statuses_without_an_envelope(status: int, cls: type[BybitError]) -> None:
    assert type(error_for(endpoint="/x", http_status=status, ret_code=None, ret_msg="")) is cls


def test_the_key_cap_codes_only_apply_to_create_sub_api() -> None:
    def classify(endpoint: str) -> type[BybitError]:
        error = error_for(
            endpoint=endpoint,
            http_status=200,
            ret_code=10001,
            ret_msg="",
            key_cap_ret_codes={10001},
        )
        return type(error)

    assert classify(CREATE) is KeyCapError
    assert classify("/v5/user/update-sub-api") is InvalidRequestError
    assert issubclass(KeyCapError, InvalidRequestError)


def test_message_names_endpoint_code_and_status() -> None:
    error = error_for(endpoint="/v5/user/query-api", http_status=200, ret_code=10010, ret_msg="IP")
    assert str(error) == "/v5/user/query-api: IP (retCode 10010, HTTP 200)"
    assert str(NetworkError("ReadTimeout", "/p", sent=True)) == (
        "/p: ReadTimeout (no retCode, no response)"
    )


def test_lost_create_names_the_outcome_and_the_key_id() -> None:
    error = CreateOutcomeLost(
        outcome=CreateOutcome.ORPHANED,
        sub_uid="100002",
        note="lease-1",
        api_key="AbCdEf",
        cause=NetworkError("RemoteProtocolError", CREATE, sent=True),
    )
    assert error.endpoint == CREATE
    assert "could not be deleted" in str(error)
    assert "AbCdEf" in str(error)
    assert "'lease-1'" in str(error)
