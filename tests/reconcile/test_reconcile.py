"""`POST /v1/reconcile`: orphans deleted, drift reported or undone, lost keys and foreign keys
recognised, and nothing raced or changed that should not be."""

from __future__ import annotations

from typing import Any

import pytest

from stackkit import ADMIN_RULES, BOT_IP, BOT_RULES, MakeStack, Stack, wait_for

from .support import (
    create_by_hand,
    entry,
    half_made_key,
    keymint_note,
    kv_snapshot,
    ledger,
    master,
    plant_slot,
    quiet_stack,
    reconcile,
    unowned_keymint_keys,
)

CREATE = "/v5/user/create-sub-api"
LIST = "/v5/user/sub-apikeys"


def mint(stack: Stack) -> dict[str, Any]:
    answer = stack.call("POST", "/v1/creds/spot-trader", stack.token(BOT_RULES))
    assert answer.status_code == 200, answer.text
    minted: dict[str, Any] = answer.json()
    return minted


@pytest.mark.parametrize("listing_fails", [False, True], ids=["resolved", "unresolvable"])
def test_a_create_whose_answer_was_lost_leaves_no_key_after_reconciliation(
    make_stack: MakeStack, listing_fails: bool
) -> None:
    # Long enough that the pass right after the mint is inside it even on a loaded machine.
    stack = quiet_stack(make_stack, reconcile_grace_s=4.0)
    stack.sim.fault(CREATE, drop_after_action=True)
    if listing_fails:
        # The client's own resolution (find the key by note, delete it) cannot list the keys.
        stack.sim.fault(LIST, http_status=503, count=4)
    lost = stack.call("POST", "/v1/creds/spot-trader", stack.token(BOT_RULES))
    assert lost.status_code == 503, lost.text
    assert len(unowned_keymint_keys(stack)) == (1 if listing_fails else 0)

    # Right after the mint the slot is younger than the grace: it might still be in flight.
    early = reconcile(stack)
    assert [o["action"] for s in early["subaccounts"] for o in s["orphans"]] == (
        ["in_grace"] if listing_fails else []
    )
    # Once past the grace, a pass deletes what the lost create left.
    deleted = 0

    def settled() -> bool:
        nonlocal deleted
        deleted += reconcile(stack)["totals"]["orphans_deleted"]
        return stack.keys_at_bybit() == [] and all(
            ledger(stack, uid)["keys"] == {} for uid in stack.master.subaccounts
        )

    wait_for(settled, timeout_s=30)
    assert unowned_keymint_keys(stack) == []
    assert deleted == (1 if listing_fails else 0)


@pytest.mark.parametrize("action", ["report", "repair", "revoke"])
def test_a_key_edited_by_hand_is_drift(make_stack: MakeStack, action: str) -> None:
    stack = quiet_stack(make_stack, reconcile_drift_action=action)
    minted = mint(stack)
    api_key = minted["data"]["api_key"]
    master(stack).modify_sub_api_key(
        apikey=api_key,
        readOnly=1,
        ips="127.0.0.1,127.0.0.9",
        permissions={"Spot": ["SpotTrade"], "Exchange": ["ExchangeHistory"]},
    )
    report = reconcile(stack)
    [drift] = [d for s in report["subaccounts"] for d in s["drift"]]
    assert drift["api_key"] == api_key and drift["lease_id"] == minted["lease_id"]
    assert drift["fields"] == ["permissions", "ips", "read_only"]
    assert (
        drift["action"] == {"report": "reported", "repair": "repaired", "revoke": "revoked"}[action]
    )
    keys = stack.keys_at_bybit()
    lease = stack.call("GET", f"/v1/leases/{minted['lease_id']}", stack.token(ADMIN_RULES))
    if action == "revoke":
        assert keys == [] and lease.status_code == 404
        return
    [key] = keys
    assert lease.status_code == 200
    if action == "repair":
        assert (key["readOnly"], key["ips"]) == (0, [BOT_IP])
        assert {g: v for g, v in key["permissions"].items() if v} == {"Spot": ["SpotTrade"]}
        assert reconcile(stack)["totals"]["drift"] == 0
    else:
        assert (key["readOnly"], key["ips"]) == (1, [BOT_IP, "127.0.0.9"])


def test_a_key_deleted_by_hand_marks_its_lease_lost(make_stack: MakeStack) -> None:
    stack = quiet_stack(make_stack, reconcile_grace_s=0)
    kept, gone = mint(stack), mint(stack)
    master(stack).delete_sub_api_key(apikey=gone["data"]["api_key"])
    report = reconcile(stack)
    assert [lid for s in report["subaccounts"] for lid in s["lost_leases"]] == [gone["lease_id"]]
    admin = stack.token(ADMIN_RULES)
    lost = stack.call("GET", f"/v1/leases/{gone['lease_id']}", admin).json()["data"]
    assert lost["state"] == "lost" and "deleted outside keymint" in lost["last_error"]
    assert stack.call("GET", f"/v1/leases/{kept['lease_id']}", admin).json()["data"]["state"] == (
        "active"
    )
    # Reported once: the next pass finds it already marked.
    assert reconcile(stack)["totals"]["lost_leases"] == 0


def test_a_foreign_key_is_counted_in_the_ledger_and_never_touched(make_stack: MakeStack) -> None:
    stack = quiet_stack(make_stack, reconcile_grace_s=0)
    uid = stack.master.subaccounts[0]
    foreign = [create_by_hand(stack, uid, "ops-desk"), create_by_hand(stack, uid, "other:key")]
    mint(stack)
    report = reconcile(stack)
    sub = entry(report, uid)
    assert sub["foreign_keys"] == 2 and sub["orphans"] == []
    assert sub["room"] == 20 - 2 - sub["keymint_keys"]
    assert ledger(stack, uid)["foreign_keys"] == 2
    assert set(foreign) <= {k["apiKey"] for k in stack.keys_at_bybit()}
    assert stack.sim.requests("/v5/user/delete-sub-api") == []


def test_a_mint_in_flight_is_not_raced(make_stack: MakeStack) -> None:
    stack = quiet_stack(make_stack)  # the default grace of 300 s
    uid = stack.master.subaccounts[0]
    # Slot reserved and key created a moment ago; the lease is not written yet.
    in_flight, note = half_made_key(stack, uid, age_s=1)
    # An intent whose mint never reached Bybit: fresh, then one long abandoned.
    fresh, _ = keymint_note()
    abandoned, _ = keymint_note()
    plant_slot(stack, uid, fresh, age_s=1)
    plant_slot(stack, uid, abandoned, age_s=301)

    sub = entry(reconcile(stack), uid)
    assert [(o["note"], o["action"]) for o in sub["orphans"]] == [(note, "in_grace")]
    assert sub["stale_slots_released"] == 1
    assert [k["note"] for k in stack.keys_at_bybit()] == [note]
    assert set(ledger(stack, uid)["keys"]) == {in_flight, fresh}


def test_dry_run_changes_nothing(make_stack: MakeStack) -> None:
    stack = quiet_stack(make_stack, reconcile_grace_s=0, reconcile_drift_action="repair")
    uid = stack.master.subaccounts[0]
    half_made_key(stack, uid, age_s=10)
    stale, _ = keymint_note()
    plant_slot(stack, uid, stale, age_s=10)
    create_by_hand(stack, uid, "ops-desk")
    drifted, deleted = mint(stack), mint(stack)
    master(stack).modify_sub_api_key(apikey=drifted["data"]["api_key"], readOnly=1)
    master(stack).delete_sub_api_key(apikey=deleted["data"]["api_key"])
    requests_before = len(stack.sim.requests())
    keys, records = stack.keys_at_bybit(), kv_snapshot(stack)

    report = reconcile(stack, dry_run=True)
    assert report["dry_run"] is True
    totals = report["totals"]
    assert (totals["orphans"], totals["drift"], totals["lost_leases"]) == (1, 1, 1)
    assert (totals["foreign_keys"], totals["stale_slots_released"]) == (1, 1)
    actions = [x["action"] for s in report["subaccounts"] for x in [*s["orphans"], *s["drift"]]]
    assert sorted(actions) == ["would_delete", "would_repair"]
    assert stack.keys_at_bybit() == keys
    assert kv_snapshot(stack) == records
    assert {r["path"] for r in stack.sim.requests()[requests_before:]} == {LIST}


def test_a_bybit_failure_on_one_subaccount_does_not_stop_the_others(
    make_stack: MakeStack,
) -> None:
    stack = quiet_stack(make_stack, reconcile_grace_s=0)
    first, second = sorted(stack.master.subaccounts, key=int)
    create_by_hand(stack, second, "ops-desk")
    stack.sim.fault(LIST, http_status=503, count=None, subaccount=int(first))
    answer = stack.call("POST", "/v1/reconcile", stack.token(ADMIN_RULES))
    assert answer.status_code == 200, answer.text
    report = answer.json()["data"]
    assert entry(report, first)["error"].startswith(f"reconciling sub-account {first}: Bybit")
    assert entry(report, second)["error"] is None
    assert entry(report, second)["foreign_keys"] == 1
    assert report["totals"]["failed_subaccounts"] == 1
    assert answer.json()["warnings"] == [f"sub-account {first}: {entry(report, first)['error']}"]


def test_reconciling_needs_update_on_reconcile(stack: Stack) -> None:
    denied = stack.call("POST", "/v1/reconcile", stack.token(BOT_RULES))
    assert denied.status_code == 403
    allowed = stack.token('path "keymint/reconcile" { capabilities = ["update"] }')
    assert stack.call("POST", "/v1/reconcile?dry_run=true", allowed).status_code == 200
