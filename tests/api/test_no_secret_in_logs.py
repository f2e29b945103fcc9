"""Invariant 1, end to end: a real `keymint serve` at DEBUG, driven through every path that
touches a secret, never writes one to its log or its `/metrics`."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx
import hvac
import yaml

from bybit_sim.control_client import SimControl
from keymint.devstack import ManagedProcess, example_roles, start_keymint
from keymint.own_vault_policy import create_keymint_token
from stackkit import BOT_IP, BOT_RULES, wait_for


def test_service_logs_hold_no_secret_or_token(
    openbao: ManagedProcess, sim: SimControl, tmp_path: Path
) -> None:
    root_token = openbao.extra["root_token"]
    vault = hvac.Client(url=openbao.url, token=root_token)
    prefix = "km-" + secrets.token_hex(4)
    master = sim.seed(subaccounts=2, master_ips=[BOT_IP])
    master_path = f"{prefix}/config/master"
    vault.secrets.kv.v2.create_or_update_secret(
        path=master_path,
        secret={
            "api_key": master.api_key,
            "api_secret": master.api_secret,
            "master_uid": master.master_uid,
        },
    )
    keymint_token = create_keymint_token(vault, prefix=prefix, policy_name="keymint-" + prefix)
    vault.sys.create_or_update_policy("bot-" + prefix, BOT_RULES)
    bot = vault.auth.token.create(policies=["bot-" + prefix])["auth"]["client_token"]
    roles = tmp_path / "roles.yaml"
    roles.write_text(yaml.safe_dump(example_roles(master.subaccounts, [BOT_IP])))
    keymint = start_keymint(
        tmp_path,
        env={
            "KEYMINT_VAULT_ADDR": openbao.url,
            "KEYMINT_VAULT_TOKEN": keymint_token,
            "KEYMINT_VAULT_PREFIX": prefix,
            "KEYMINT_MASTER_REFRESH_S": "0.1",
            "KEYMINT_ROLES_FILE": str(roles),
            "KEYMINT_BYBIT_BASE_URL": sim.url,
            "KEYMINT_LOG_LEVEL": "DEBUG",
            "KEYMINT_LOG_FORMAT": "json",
        },
    )
    leaked: list[str] = [root_token, keymint_token, bot, master.api_secret]
    try:
        http = httpx.Client(base_url=keymint.url, headers={"X-Vault-Token": bot}, timeout=30)
        minted = http.post("/v1/creds/spot-trader").json()
        leaked.append(minted["data"]["api_secret"])
        lease = minted["lease_id"]
        assert http.post(f"/v1/leases/{lease}/renew", json={"increment": 60}).status_code == 200
        wrapped = http.post("/v1/creds/spot-trader", headers={"X-Vault-Wrap-TTL": "60"})
        leaked.append(wrapped.json()["wrap_info"]["token"])
        again = http.post("/v1/creds/spot-trader", headers={"Idempotency-Key": "k1"}).json()
        leaked.append(again["data"]["api_secret"])
        assert http.delete(f"/v1/leases/{lease}").status_code == 200
        # Refusals: a bad token, a path the bot may not use, Bybit refusing a wrong master.
        assert (
            httpx.post(
                f"{keymint.url}/v1/creds/spot-trader", headers={"X-Vault-Token": "s.bogus" * 4}
            ).status_code
            == 403
        )
        assert http.post("/v1/creds/monitor").status_code == 403
        wrong = "W" * 36
        leaked.append(wrong)
        vault.secrets.kv.v2.create_or_update_secret(
            path=master_path,
            secret={"api_key": master.api_key, "api_secret": wrong, "master_uid": "1"},
        )
        # Cached for KEYMINT_MASTER_REFRESH_S: the wrong secret is used within that.
        wait_for(lambda: http.post("/v1/creds/spot-trader").status_code == 502)
        sim.fault("/v5/user/create-sub-api", drop_after_action=True)
        vault.secrets.kv.v2.create_or_update_secret(
            path=master_path,
            secret={"api_key": master.api_key, "api_secret": master.api_secret, "master_uid": "1"},
        )
        assert http.post("/v1/creds/spot-trader").status_code == 503
        exposition = httpx.get(f"{keymint.url}/metrics").text
    finally:
        keymint.stop()
    log = keymint.log_path.read_text()
    for secret in leaked:
        assert secret not in log
        assert secret not in exposition
    assert "keymint_mints_total" in exposition
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    names = {e.get("event") for e in events}
    assert {"lease_issued", "lease_revoked", "authorization_denied"} <= names, names
