"""The benchmark harness at toy sizes, so it cannot rot unnoticed between `make bench` runs.

Only that each measurement runs against the real servers and yields rows with numbers: speed is
the benchmark's to report, never a test's to assert.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# No __init__.py in this folder, so `bench` resolves to the harness at the repo root, not here.

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, home of bench/

from bench.harness import MEASUREMENTS, Sizes, World, render, world

TINY = Sizes(
    mint_samples=5,
    fleet=10,
    revoke_leases=20,
    recon_subaccounts=4,
    recon_keys_per_sub=3,
    metrics_leases=40,
    metrics_subaccounts=4,
    ramp_rates=(10, 20),
    ramp_step_s=1.0,
    sustained_s=2.0,
)


@pytest.fixture(scope="module")
def bench_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("bench")) as w:
        yield w


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name, _ in MEASUREMENTS])
async def test_measurement_yields_rows(bench_world: World, name: str) -> None:
    measure = dict(MEASUREMENTS)[name]
    rows = await measure(bench_world, TINY)
    assert rows, name
    for row in rows:
        assert isinstance(row.value, float | int) and math.isfinite(row.value), row
        assert row.metric and row.unit, row
    assert render(rows)  # the table renders them
