"""Vault's duration format: what `ttl`, `max_ttl` and `increment` accept.

Bare integers and numeric strings are seconds, `<int>d` is days, anything else is a Go
duration (`90s`, `15m`, `1h30m`, `1.5h`). Output is always whole seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DAYS = re.compile(r"(\d+)d")


def parse_duration(value: int | float | str, *, field: str) -> int:
    """Whole seconds, or ValueError naming the field."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected a duration, got a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        seconds = _parse_text(text, field=field)
    if seconds < 0:
        raise ValueError(f"{field}: duration must not be negative")
    return int(seconds)


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
