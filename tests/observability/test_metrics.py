"""`/metrics` after real traffic: the families exist, label values are bounded (route templates,
role names), gauges describe the lease store, and nothing secret or per-key is exported."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from stackkit import ADMIN_RULES, MakeStack, Stack, wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(stack: Stack) -> tuple[str, Samples]:
    answer = stack.http.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return answer.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_traffic_shows_in_metrics_without_secrets_or_key_ids(make_stack: MakeStack) -> None:
    stack = make_stack(expiry_interval_s=0.3)
    admin = stack.token(ADMIN_RULES)
    _, before = scrape(stack)
    minted = [stack.call("POST", "/v1/creds/spot-trader", admin).json() for _ in range(3)]
    lease_id = minted[0]["lease_id"]
    assert stack.call("POST", f"/v1/leases/{lease_id}/renew", admin).status_code == 200
    assert stack.call("DELETE", f"/v1/leases/{lease_id}", admin).status_code == 200
    assert stack.call("POST", "/v1/creds/spot-trader", "s.nobody" * 3).status_code == 403
    assert stack.call("POST", "/v1/creds/spot-trader", admin, json={"ttl": "9h"}).status_code == 400

    # The state gauges come from the leader's sweep: wait for a pass that read the records
    # after the revocation finished (one mid-way still counts the revoked key's age).
    def settled() -> bool:
        samples = scrape(stack)[1]
        return (
            value(samples, "keymint_keys_active", role="spot-trader") == 2
            and value(samples, "keymint_key_age_seconds_gcount", role="spot-trader") == 2
        )

    wait_for(settled)
    text, after = scrape(stack)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("keymint_mints_total", role="spot-trader", outcome="issued") == 3
    assert delta("keymint_mints_total", role="spot-trader", outcome="refused") == 1
    assert (
        delta("keymint_revocations_total", role="spot-trader", reason="revoked", outcome="ok") == 1
    )
    assert delta("keymint_key_lifetime_seconds_count", role="spot-trader") == 1
    route = {"route": "/v1/creds/{role}", "method": "POST"}
    assert delta("keymint_http_requests_total", **route, status="200") == 3
    assert delta("keymint_http_requests_total", **route, status="403") == 1
    assert delta("keymint_http_requests_total", **route, status="400") == 1
    assert (
        delta("keymint_bybit_request_duration_seconds_count", endpoint="/v5/user/create-sub-api")
        == 3
    )
    assert delta("keymint_vault_request_duration_seconds_count", operation="kv.write") > 0
    assert value(after, "keymint_vault_up") == 1
    assert value(after, "keymint_build_info", version="0.1.0") == 1
    assert value(after, "keymint_key_age_seconds_gcount", role="spot-trader") == 2
    # Ages are of keys at Bybit; a role holding none has no oldest age (not a 0 that reads
    # as a brand-new key).
    assert value(after, "keymint_key_oldest_age_seconds", role="spot-trader") > 0
    assert ("keymint_key_oldest_age_seconds", frozenset({("role", "monitor")})) not in after
    sub_keys = sum(v for (n, _), v in after.items() if n == "keymint_subaccount_managed_keys")
    assert sub_keys >= 2
    assert value(after, "keymint_scheduler_leader") == 1

    # Bounded labels: no lease id, key or secret anywhere in the exposition.
    for answer in minted:
        assert answer["lease_id"].rsplit("/", 1)[1] not in text
        assert answer["data"]["api_key"] not in text
        assert answer["data"]["api_secret"] not in text
    assert stack.master.api_secret not in text and admin not in text


def test_request_ids_are_echoed_and_generated(stack: Stack) -> None:
    given = stack.http.get("/healthz", headers={"X-Request-ID": "bot-7.boot-1"})
    assert given.headers["x-request-id"] == "bot-7.boot-1"
    fresh = stack.http.get("/healthz")
    assert len(fresh.headers["x-request-id"]) == 36
    for hostile in ("a b", "x" * 200, "id\tforged=1"):
        answer = stack.http.get("/healthz", headers={"X-Request-ID": hostile})
        assert len(answer.headers["x-request-id"]) == 36


def test_metrics_need_no_vault_token(stack: Stack) -> None:
    assert httpx.get(f"{stack.url}/metrics").status_code == 200
