"""keymint's Bybit V5 client: signed, paced, typed access to the user (sub-account) module."""

from keymint.bybit.client import BybitClient, Permissions
from keymint.bybit.errors import (
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
from keymint.bybit.events import RequestEvent, RequestHook
from keymint.bybit.hosts import HOSTS, resolve_base_url
from keymint.bybit.models import (
    ApiKeyInfo,
    CallingKeyInfo,
    CreatedApiKey,
    MemberType,
    ServerTime,
    SubMember,
)
from keymint.bybit.ratelimit import ENDPOINT_RATES, RateLimiter

__all__ = [
    "ENDPOINT_RATES",
    "HOSTS",
    "ApiKeyInfo",
    "AuthError",
    "BybitClient",
    "BybitError",
    "CallingKeyInfo",
    "CreateOutcome",
    "CreateOutcomeLost",
    "CreatedApiKey",
    "InvalidRequestError",
    "IpNotAllowedError",
    "KeyCapError",
    "MemberType",
    "NetworkError",
    "PermissionDeniedError",
    "Permissions",
    "RateLimitError",
    "RateLimiter",
    "RequestEvent",
    "RequestHook",
    "ServerError",
    "ServerTime",
    "SubMember",
    "resolve_base_url",
]
