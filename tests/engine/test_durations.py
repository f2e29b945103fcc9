from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keymint.engine.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90),
        ("90", 90),
        ("90s", 90),
        ("15m", 900),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("7d", 604800),
        ("1500ms", 1),
    ],
)
def test_vault_duration_forms(value: int | str, seconds: int) -> None:
    assert parse_duration(value, field="ttl") == seconds


@pytest.mark.parametrize("value", ["", "h", "1x", "1h-5m", "1.5d", "-5", "5 m", True])
def test_garbage_names_the_field(value: str | bool) -> None:
    with pytest.raises(ValueError, match=r"^ttl: "):
        parse_duration(value, field="ttl")


@given(st.integers(min_value=0, max_value=10**8))
def test_formatted_durations_parse_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds), field="x") == seconds
