"""Start-up replays the write-ahead intents a crash left: the half-made key goes, its slot too."""

from __future__ import annotations

from stackkit import BOT_RULES, MakeStack

from .support import half_made_key, ledger, quiet_stack

CREATE = "/v5/user/create-sub-api"
LIST = "/v5/user/sub-apikeys"


def test_startup_deletes_the_key_of_an_unfinished_mint(make_stack: MakeStack) -> None:
    first = quiet_stack(make_stack)
    uid = first.master.subaccounts[0]
    half_made_key(first, uid, age_s=600)
    # A mint whose lost answer the client could not resolve either (its listing failed).
    first.sim.fault(CREATE, drop_after_action=True)
    first.sim.fault(LIST, http_status=503, count=4)
    assert first.call("POST", "/v1/creds/monitor", first.token(BOT_RULES)).status_code == 403
    assert first.call("POST", "/v1/creds/spot-trader", first.token(BOT_RULES)).status_code == 503
    assert len(first.keys_at_bybit()) == 2

    # A replica started once the grace has passed (here: a grace of zero) replays both.
    make_stack(same_as=first, scheduler_enabled=False, reconcile_grace_s=0)
    assert first.keys_at_bybit() == []
    assert all(ledger(first, u)["keys"] == {} for u in first.master.subaccounts)


def test_startup_leaves_a_young_intent_alone(make_stack: MakeStack) -> None:
    first = quiet_stack(make_stack)
    uid = first.master.subaccounts[0]
    in_flight, note = half_made_key(first, uid, age_s=1)
    make_stack(same_as=first, scheduler_enabled=False)
    assert [k["note"] for k in first.keys_at_bybit()] == [note]
    assert set(ledger(first, uid)["keys"]) == {in_flight}
