"""A spot-trading pybit bot as a bot author writes it for `keymint exec`: its key comes from
BYBIT_API_KEY/BYBIT_API_SECRET, and on SIGHUP from the file named by KEYMINT_CREDS_FILE. It
places one limit order at a time at a modest cadence, each sent once (no pybit retries, so a
refused order shows), and writes every outcome as a JSON line to the file named by argv[1].
SIGTERM stops it after the order in flight, with code 0."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP

out = sys.argv[1]
stopping = False
reload_pending = False


def note(**record: Any) -> None:
    with open(out, "a") as f:
        f.write(json.dumps({"pid": os.getpid(), **record}) + "\n")


def on_term(signum: int, frame: object) -> None:
    global stopping
    stopping = True


def on_hup(signum: int, frame: object) -> None:
    # Only a flag: the key and secret are swapped between orders, never under one's signing.
    global reload_pending
    reload_pending = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGHUP, on_hup)
session = HTTP(
    api_key=os.environ["BYBIT_API_KEY"], api_secret=os.environ["BYBIT_API_SECRET"], max_retries=1
)
session.endpoint = os.environ["BOT_BYBIT_ENDPOINT"]
while not stopping:
    if reload_pending:
        reload_pending = False
        with open(os.environ["KEYMINT_CREDS_FILE"]) as f:
            creds = json.load(f)
        session.api_key, session.api_secret = creds["api_key"], creds["api_secret"]
    try:
        answer = session.place_order(
            category="spot", symbol="BTCUSDT", side="Buy", orderType="Limit",
            qty="0.001", price="30000",
        )  # fmt: skip
        note(key=session.api_key, retCode=answer["retCode"])
    except (InvalidRequestError, FailedRequestError) as exc:
        note(key=session.api_key, retCode=exc.status_code, error=exc.message)
    # Under the simulator's per-IP rate limit, and many orders per key all the same.
    time.sleep(0.1)
