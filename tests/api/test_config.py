"""/v1/config and readiness: settings visible, the master secret never."""

from __future__ import annotations

from stackkit import ADMIN_RULES, Stack


def test_config_shows_the_master_key_id_but_never_its_secret(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    answer = stack.call("GET", "/v1/config", admin)
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["master"] == {
        "configured": True,
        "api_key": stack.master.api_key,
        "master_uid": stack.master.master_uid,
    }
    assert data["bybit_base_url"] == stack.sim.url
    assert stack.master.api_secret not in answer.text


def test_config_update_validates_the_bybit_endpoint(stack: Stack) -> None:
    admin = stack.token(ADMIN_RULES)
    bad = stack.call("PUT", "/v1/config", admin, json={"bybit_base_url": "moon"})
    assert bad.status_code == 400 and "bybit_base_url" in bad.json()["errors"][0]
    typo = stack.call("PUT", "/v1/config", admin, json={"bybit_url": "testnet"})
    assert typo.status_code == 400 and "bybit_url: unknown field" in typo.json()["errors"]
    good = stack.call("PUT", "/v1/config", admin, json={"bybit_base_url": "testnet"})
    assert good.status_code == 200 and good.json()["data"]["bybit_base_url"] == "testnet"


def test_readiness_needs_the_master_credential(stack: Stack) -> None:
    assert stack.call("GET", "/v1/sys/health").json() == {
        "vault": "ok",
        "master_credential": "ok",
    }
    stack.vault.secrets.kv.v2.delete_metadata_and_all_versions(f"{stack.prefix}/config/master")
    answer = stack.call("GET", "/v1/sys/health")
    assert answer.status_code == 503
    assert "master credential" in answer.json()["errors"][0]
