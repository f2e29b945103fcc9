"""Vault's duration format: what `ttl`, `max_ttl` and `increment` accept.

Bare integers and numeric strings are seconds, `<int>d` is days, anything else is a Go
duration (`90s`, `15m`, `1h30m`, `1.5h`). Output is always whole seconds.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DAYS = re.compile(r"(\d+)d")
# Far past any TTL keymint allows (the configurable system maximum is checked where a TTL is
# used); a bound here keeps every later sum of times a finite, printable date.
MAX_DURATION_S = 100 * 365 * 86400


# What a duration looks like, for the API's schema.
DURATION_PATTERN = r"^(\d+(\.\d+)?|\d+d|((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+)$"
DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": MAX_DURATION_S},
        {
            "type": "string",
            "maxLength": 64,
            "pattern": DURATION_PATTERN,
        },
    ],
    "description": "Seconds, or a Vault duration: '90s', '15m', '1h30m', '7d'",
}


def parse_duration(value: Any, *, field: str) -> int:
    """Whole seconds, or ValueError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(
            f"{field}: expected a duration (seconds, or e.g. '15m'), got {_kind(value)}"
        )
    if isinstance(value, str):
        # Longer than any real duration; also keeps digit runs from overflowing a float.
        if len(value) > 64:
            raise ValueError(f"{field}: {value[:16]!r}... is not a duration (too long)")
        seconds = _parse_text(value.strip(), field=field)
    else:
        seconds = float(min(value, MAX_DURATION_S + 1))
    if not math.isfinite(seconds):
        raise ValueError(f"{field}: duration must be finite")
    if seconds < 0:
        raise ValueError(f"{field}: duration must not be negative")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"{field}: duration is over {MAX_DURATION_S // (365 * 86400)} years")
    return int(seconds)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _parse_text(text: str, *, field: str) -> float:
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if days := _DAYS.fullmatch(text):
        return int(days.group(1)) * 86400.0
    pos, total = 0, 0.0
    for match in _GO_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(text):
        raise ValueError(
            f"{field}: {text!r} is not a duration "
            "(use seconds, or e.g. '90s', '15m', '1h30m', '7d')"
        )
    return total


def format_duration(seconds: int) -> str:
    """Go-style rendering for messages, e.g. 5400 -> '1h30m0s'."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def iso(ts: float) -> str:
    """RFC 3339 in UTC, as Vault writes times."""
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
