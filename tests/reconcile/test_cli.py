"""`keymint reconcile`: the report as JSON, with the caller's own Vault token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stackkit import ADMIN_RULES, BOT_RULES, Stack

from .support import create_by_hand

KEYMINT = Path(sys.executable).parent / "keymint"


def run(stack: Stack, token: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VAULT_TOKEN", "BAO_TOKEN")}
    done = subprocess.run(
        [KEYMINT, "reconcile", "--addr", stack.url, *args],
        env={**env, "VAULT_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout, done.stderr


def test_cli_dry_run_prints_the_report(stack: Stack) -> None:
    uid = stack.master.subaccounts[1]
    create_by_hand(stack, uid, "ops-desk")
    code, out, _ = run(stack, stack.token(ADMIN_RULES), "--dry-run", "--sub", uid)
    assert code == 0, out
    report = json.loads(out)
    assert report["dry_run"] is True
    assert [(s["subaccount"], s["foreign_keys"]) for s in report["subaccounts"]] == [(int(uid), 1)]
    assert len(stack.keys_at_bybit()) == 1


def test_cli_reports_refusals_and_exits_non_zero(stack: Stack) -> None:
    code, _, err = run(stack, stack.token(BOT_RULES), "--dry-run")
    assert code == 1 and "HTTP 403" in err
    code, _, err = run(stack, stack.token(ADMIN_RULES), "--sub", "4242")
    assert code == 1 and "HTTP 400: subaccounts: 4242 not managed by keymint" in err
    code, _, err = run(stack, "", "--dry-run")
    assert code == 1 and "VAULT_TOKEN" in err
