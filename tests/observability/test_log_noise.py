"""What an operator reads: a scheduler's routine runs are not news, so they stay at DEBUG."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from keymint.devstack import start_keymint
from stackkit import ADMIN_RULES, MakeStack, wait_for


def test_the_schedulers_routine_runs_stay_out_of_an_info_log(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    stack = make_stack(scheduler_enabled=False)  # the process below runs the only scheduler
    env = {
        **stack.env,
        "KEYMINT_SCHEDULER_ENABLED": "true",
        "KEYMINT_EXPIRY_INTERVAL_S": "0.2",
        "KEYMINT_LOG_LEVEL": "INFO",
    }
    keymint = start_keymint(tmp_path, env=env)
    try:
        admin = stack.token(ADMIN_RULES)
        headers = {"X-Vault-Token": admin}
        minted = httpx.post(
            f"{keymint.url}/v1/creds/spot-trader", headers=headers, json={"ttl": 1}
        ).json()
        # The process's own sweep revokes the lease: its jobs have run many times by then.
        wait_for(
            lambda: (
                httpx.get(
                    f"{keymint.url}/v1/leases/{minted['lease_id']}", headers=headers
                ).status_code
                == 404
            )
        )
    finally:
        keymint.stop()
    events = [json.loads(line) for line in keymint.log_path.read_text().splitlines()]
    assert any(e.get("event") == "lease_revoked" for e in events)
    scheduler_info = [
        e
        for e in events
        if str(e.get("logger", "")).startswith("apscheduler") and e.get("level") == "info"
    ]
    assert scheduler_info == []
