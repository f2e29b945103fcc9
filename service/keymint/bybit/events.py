"""A per-request hook so observability can watch Bybit calls without living in the client."""

from collections.abc import Callable
from dataclasses import dataclass

from keymint.bybit.errors import BybitError


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """One HTTP attempt: retries and clock re-syncs each produce their own event."""

    endpoint: str
    duration_s: float
    ret_code: int | None
    error: type[BybitError] | None
    rate_limit_remaining: int | None


RequestHook = Callable[[RequestEvent], None]


def ignore_event(event: RequestEvent) -> None:
    """The default hook."""
