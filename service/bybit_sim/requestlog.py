"""The last Bybit requests and how they were answered, for tests to assert what a client did."""

from __future__ import annotations

from collections import deque

MAX_ENTRIES = 1000


class RequestLog:
    def __init__(self) -> None:
        self._entries: deque[dict[str, object]] = deque(maxlen=MAX_ENTRIES)

    def record(
        self,
        *,
        method: str,
        path: str,
        uid: int | None,
        api_key: str | None,
        ret_code: int | None,
        http_status: int | None,
        ts_ms: int,
    ) -> None:
        # http_status None: a fault withheld the answer (timeout or dropped connection).
        self._entries.append(
            {
                "method": method,
                "path": path,
                "uid": None if uid is None else str(uid),
                "apiKey": api_key,
                "retCode": ret_code,
                "http_status": http_status,
                "ts_ms": ts_ms,
            }
        )

    def describe(self) -> list[dict[str, object]]:
        return list(self._entries)
