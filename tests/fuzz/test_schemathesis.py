"""schemathesis over openapi.yaml against a real keymint, OpenBao and simulator: every check on,
a fixed seed, and no server error. `make fuzz` runs the same with many more cases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stackkit import ADMIN_RULES, Stack

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
# Few per operation keeps `make test` short; `make fuzz` sets thousands in all.
EXAMPLES = int(os.environ.get("KEYMINT_FUZZ_EXAMPLES", "5"))
SEED = int(os.environ.get("KEYMINT_FUZZ_SEED", "20261201"))


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_openapi_fuzzing_finds_no_server_error_and_no_schema_violation(
    stack: Stack, tmp_path: Path
) -> None:
    admin = stack.token(ADMIN_RULES, ttl="2h")
    # Real ids, so lease operations reach their logic instead of answering 404 throughout.
    minted = stack.call("POST", "/v1/creds/spot-trader", admin, json={"ttl": "1h"})
    assert minted.status_code == 200, minted.text
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        CONFIG.read_text()
        + f'\n[parameters]\nlease_id = "{minted.json()["lease_id"]}"\nrole = "spot-trader"\n'
    )
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("st")),
            "--config-file",
            str(config),
            "run",
            str(ROOT / "openapi.yaml"),
            "--url",
            stack.url,
            "--header",
            f"X-Vault-Token: {admin}",
            "--seed",
            str(SEED),
            "--max-examples",
            str(EXAMPLES),
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=1700,
    )
    summary = run.stdout[-6000:]
    print(summary)
    assert run.returncode == 0, summary
    assert "Server error" not in run.stdout, summary
