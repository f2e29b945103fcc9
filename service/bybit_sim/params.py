"""Typed access to request parameters, answering 10001 for anything missing or mistyped.

POST fields keep their JSON types (the user endpoints want ints for `subuid`, `readOnly`, `frozen`
and strings for `subMemberId`); GET parameters are always strings on the wire.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import parse_qsl

from bybit_sim.envelope import params_error

T = TypeVar("T")


class Params:
    def __init__(self, values: dict[str, object], *, from_query: bool, lenient: bool) -> None:
        self._values = values
        self._from_query = from_query
        self._lenient = lenient

    @classmethod
    def from_query(cls, raw_query: bytes, *, lenient: bool) -> Params:
        pairs = parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True)
        # An empty GET parameter is the same as an absent one.
        return cls({k: v for k, v in pairs if v != ""}, from_query=True, lenient=lenient)

    @classmethod
    def from_body(cls, body: bytes, *, lenient: bool) -> Params:
        if not body.strip():
            return cls({}, from_query=False, lenient=lenient)
        try:
            values = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise params_error("body not json") from None
        if not isinstance(values, dict):
            raise params_error("body not json")
        return cls(values, from_query=False, lenient=lenient)

    def has(self, name: str) -> bool:
        return name in self._values

    def raw(self, name: str) -> object:
        return self._values.get(name)

    def opt_int(self, name: str, choices: Sequence[int] | None = None) -> int | None:
        if name not in self._values:
            return None
        value = self._values[name]
        if isinstance(value, str) and (self._from_query or self._lenient):
            value = int(value) if value.lstrip("-").isdigit() else value
        if not isinstance(value, int) or isinstance(value, bool):
            raise params_error(f"{name} must be an integer")
        if choices is not None and value not in choices:
            raise params_error(f"{name} must be one of {', '.join(map(str, choices))}")
        return value

    def req_int(self, name: str, choices: Sequence[int] | None = None) -> int:
        value = self.opt_int(name, choices)
        if value is None:
            raise params_error(f"{name} is required")
        return value

    def opt_str(self, name: str) -> str | None:
        if name not in self._values:
            return None
        value = self._values[name]
        if self._lenient and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise params_error(f"{name} must be a string")
        return value

    def req_str(self, name: str) -> str:
        value = self.opt_str(name)
        if value is None or value == "":
            raise params_error(f"{name} is required")
        return value

    def note(self, max_length: int) -> str:
        note = self.opt_str("note") or ""
        if len(note) > max_length:
            raise params_error(f"note must be at most {max_length} characters")
        return note


def page_after(
    items: list[T], sort_key: Callable[[T], int], cursor: str | None, size: int
) -> tuple[list[T], bool]:
    """The page of `items` after the one whose key is `cursor`, and whether more follow.

    Cursors are the last item's numeric id, so deleting items between pages never shifts one.
    """
    ordered = sorted(items, key=sort_key)
    if cursor is not None:
        if not cursor.isdigit():
            raise params_error("invalid cursor")
        ordered = [item for item in ordered if sort_key(item) > int(cursor)]
    return ordered[:size], len(ordered) > size
