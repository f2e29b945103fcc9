"""Bybit failures as one exception hierarchy, by what the caller can do about them.

Messages carry the endpoint, retCode, retMsg and HTTP status only: never request headers (the
signature), request bodies that hold secrets, or response bodies (a create response holds the
new key's secret).
"""

import enum
from collections.abc import Collection

CREATE_SUB_API = "/v5/user/create-sub-api"


class BybitError(Exception):
    """Root of every Bybit failure. ``ret_code`` is None when no Bybit envelope was received."""

    def __init__(
        self,
        ret_code: int | None,
        ret_msg: str,
        endpoint: str,
        http_status: int | None,
    ) -> None:
        self.ret_code = ret_code
        self.ret_msg = ret_msg
        self.endpoint = endpoint
        self.http_status = http_status
        code = "no retCode" if ret_code is None else f"retCode {ret_code}"
        status = "no response" if http_status is None else f"HTTP {http_status}"
        super().__init__(f"{endpoint}: {ret_msg} ({code}, {status})")


class AuthError(BybitError):
    """The request was not authenticated: bad or expired key, bad signature, clock skew."""


class PermissionDeniedError(BybitError):
    """The key is valid but lacks the permission this endpoint needs."""


class IpNotAllowedError(BybitError):
    """The key is bound to IPs that do not include this caller's address."""


class RateLimitError(BybitError):
    """Bybit's per-UID limit (10006) or the per-IP limit (HTTP 403) was hit."""


class InvalidRequestError(BybitError):
    """Bybit refused the request itself (10001 and the business codes); retrying will not help."""


class KeyCapError(InvalidRequestError):
    """The sub-account holds as many API keys as Bybit allows.

    Bybit does not document this limit or its retCode, so the codes are configured by the caller.
    """


class ServerError(BybitError):
    """Bybit failed (10016, HTTP 5xx) or answered something that is not a Bybit envelope."""


class NetworkError(BybitError):
    """No response arrived: connect or read timeout, refused or dropped connection.

    ``sent`` is False only when the request never left (no connection could be made), the one
    case where even a create is known to have done nothing.
    """

    def __init__(self, ret_msg: str, endpoint: str, *, sent: bool) -> None:
        super().__init__(None, ret_msg, endpoint, None)
        self.sent = sent


def outcome_unknown(exc: BybitError) -> bool:
    """Whether Bybit may have acted on a request whose answer the caller never got."""
    return isinstance(exc, ServerError) or (isinstance(exc, NetworkError) and exc.sent)


_BY_RET_CODE: dict[int, type[BybitError]] = {
    10002: AuthError,
    10003: AuthError,
    10004: AuthError,
    10007: AuthError,
    33004: AuthError,
    10005: PermissionDeniedError,
    10010: IpNotAllowedError,
    10006: RateLimitError,
    10016: ServerError,
}


def error_for(
    *,
    endpoint: str,
    http_status: int,
    ret_code: int | None,
    ret_msg: str,
    key_cap_ret_codes: Collection[int] = (),
) -> BybitError:
    """The exception for a failed call: by retCode when Bybit sent one, else by HTTP status.

    ``key_cap_ret_codes`` only apply to create-sub-api, the one endpoint that can hit the cap,
    so a cap code shared with a generic error (10001 is plausible) is not misread elsewhere.
    """
    cls: type[BybitError]
    if ret_code is not None:
        if endpoint == CREATE_SUB_API and ret_code in key_cap_ret_codes:
            cls = KeyCapError
        else:
            cls = _BY_RET_CODE.get(ret_code, InvalidRequestError)
    elif http_status == 401:
        cls = AuthError
    elif http_status in (403, 429):
        cls = RateLimitError
    elif 400 <= http_status < 500:
        cls = InvalidRequestError
    else:
        cls = ServerError
    return cls(ret_code, ret_msg, endpoint, http_status)


class CreateOutcome(enum.Enum):
    """What a lost create-sub-api response turned out to have done."""

    NOT_CREATED = "no key with this note exists, so none was created"
    DELETED = "the key was created and has been deleted, because its secret was never received"
    ORPHANED = "the key was created but could not be deleted: delete it by its api key"
    UNKNOWN = "the sub-account's keys could not be listed, so the key may exist"


class CreateOutcomeLost(BybitError):
    """create-sub-api's response was lost, and the client found out what happened.

    Either way the caller has no usable key: the secret exists only in that lost response.
    ``api_key`` names the orphaned key (ORPHANED) or the deleted one (DELETED) so a reconciler
    can clean up or audit; ``cause`` is the failure that lost the response.
    """

    def __init__(
        self,
        *,
        outcome: CreateOutcome,
        sub_uid: str,
        note: str,
        api_key: str | None,
        cause: BybitError,
    ) -> None:
        self.outcome = outcome
        self.sub_uid = sub_uid
        self.note = note
        self.api_key = api_key
        self.cause = cause
        key = "" if api_key is None else f" (api key {api_key})"
        super().__init__(
            cause.ret_code,
            f"response lost ({type(cause).__name__}) for note {note!r} on sub {sub_uid}: "
            f"{outcome.value}{key}",
            CREATE_SUB_API,
            cause.http_status,
        )
