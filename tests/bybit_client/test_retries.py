"""What the client retries, how, and what it refuses to retry, seen on the simulator's log."""

import asyncio
import socket
import time

import httpx
import pytest
from pydantic import SecretStr

from bybit_client.support import IPS, PERMISSIONS, make_client
from bybit_sim.control_client import SeededMaster, SimControl
from keymint.bybit import (
    BybitClient,
    InvalidRequestError,
    NetworkError,
    RateLimitError,
    RequestEvent,
    ServerError,
)
from keymint.bybit.ratelimit import RateLimiter
from keymint.bybit.signing import Credentials
from keymint.bybit.transport import Call, Transport

QUERY_API = "/v5/user/query-api"
CREATE = "/v5/user/create-sub-api"


def ret_codes(sim: SimControl, path: str) -> list[int | None]:
    return [entry["retCode"] for entry in sim.requests(path)]


async def test_concurrent_creates_are_paced_under_the_limit(
    sim: SimControl, account: SeededMaster
) -> None:
    # 1/s scaled to 10/s: 25 creates need three windows, the last five after two of them.
    sim.configure(rate_limit_scale=10, max_keys_per_subaccount=30)
    sent: list[float] = []

    def record(event: RequestEvent) -> None:
        # The event arrives as the attempt ends; its duration starts where the limiter let it go.
        if event.endpoint == CREATE:
            sent.append(time.monotonic() - event.duration_s)

    async with make_client(sim, account, rate_limit_scale=10, on_request=record) as client:
        created = await asyncio.gather(
            *(
                client.create_sub_api_key(
                    account.subaccounts[0],
                    note=f"burst-{n}",
                    permissions=PERMISSIONS,
                    read_only=True,
                    ips=IPS,
                )
                for n in range(25)
            )
        )
    assert len({key.api_key for key in created}) == 25
    # Paced where the client controls it: never more than the limit sent in any one-second
    # window (unpaced, all 25 would leave at once). Bybit counts arrivals, so a stall on the
    # server's side can still bunch them and draw a 10006 now and then; the client then waits
    # for the reset and every create succeeds. (How fast it goes is a benchmark's business.)
    busiest = max(sum(1 for t in sent if start <= t < start + 1.0) for start in sent)
    assert busiest <= 10, sorted(sent)
    assert max(sent) - min(sent) >= 2.0
    codes = ret_codes(sim, CREATE)
    assert codes.count(0) == 25 and set(codes) <= {0, 10006}, codes


async def test_a_client_paced_too_fast_recovers_from_10006_by_the_reset_header(
    sim: SimControl, account: SeededMaster
) -> None:
    sim.configure(rate_limit_scale=2)  # create-sub-api: 2 per second
    events: list[RequestEvent] = []
    async with make_client(sim, account, max_retries=5, on_request=events.append) as client:
        created = await asyncio.gather(
            *(
                client.create_sub_api_key(
                    account.subaccounts[n % 3],
                    note=f"fast-{n}",
                    permissions=PERMISSIONS,
                    read_only=True,
                    ips=IPS,
                )
                for n in range(6)
            )
        )
    codes = ret_codes(sim, CREATE)
    assert len(created) == 6
    assert codes.count(0) == 6
    assert 10006 in codes
    assert all(code in (0, 10006) for code in codes)
    assert any(e.error is RateLimitError and e.ret_code == 10006 for e in events)
    assert [e.rate_limit_remaining for e in events if e.ret_code == 0][:2] == [1, 0]


async def test_an_injected_10006_is_retried(client: BybitClient, sim: SimControl) -> None:
    sim.fault(QUERY_API, ret_code=10006, ret_msg="Too many visits!")
    await client.query_api()
    assert ret_codes(sim, QUERY_API) == [10006, 0]


async def test_persistent_10006_gives_up_after_bounded_attempts(
    sim: SimControl, account: SeededMaster
) -> None:
    sim.fault(QUERY_API, ret_code=10006, count=None)
    async with make_client(sim, account, max_retries=2) as client:
        with pytest.raises(RateLimitError) as info:
            await client.query_api()
    assert info.value.ret_code == 10006
    assert ret_codes(sim, QUERY_API) == [10006] * 3


@pytest.mark.parametrize("skew_s", [30, -30])
async def test_clock_skew_is_resynced_once(
    client: BybitClient, sim: SimControl, skew_s: float
) -> None:
    sim.advance(skew_s)
    await client.query_api()
    await client.query_api()
    assert ret_codes(sim, QUERY_API) == [10002, 0, 0]
    assert len(sim.requests("/v5/market/time")) == 1


async def test_a_dropped_read_is_retried(client: BybitClient, sim: SimControl) -> None:
    sim.fault(QUERY_API, drop_after_action=True)
    await client.query_api()
    assert ret_codes(sim, QUERY_API) == [0, 0]


async def test_a_read_timeout_is_retried(sim: SimControl, account: SeededMaster) -> None:
    sim.fault(QUERY_API, timeout=True)
    async with make_client(sim, account, timeout_s=0.5) as client:
        await client.query_api()
    assert ret_codes(sim, QUERY_API) == [None, 0]  # the simulator logs the held request


async def test_one_5xx_on_a_read_is_retried(client: BybitClient, sim: SimControl) -> None:
    sim.fault(QUERY_API, http_status=502)
    await client.query_api()
    assert [e["http_status"] for e in sim.requests(QUERY_API)] == [502, 200]


async def test_persistent_5xx_is_a_server_error(sim: SimControl, account: SeededMaster) -> None:
    sim.fault(QUERY_API, http_status=503, count=None)
    async with make_client(sim, account, max_retries=1) as client:
        with pytest.raises(ServerError) as info:
            await client.query_api()
    assert (info.value.http_status, info.value.ret_code) == (503, None)


async def test_an_unreachable_host_is_a_network_error(account: SeededMaster) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    async with BybitClient(
        f"http://127.0.0.1:{port}", account.api_key, SecretStr(account.api_secret), max_retries=1
    ) as client:
        with pytest.raises(NetworkError) as info:
            await client.query_api()
    assert info.value.sent is False
    assert "ConnectError" in str(info.value)


async def test_a_percent_encoded_cursor_is_signed_as_sent(
    sim: SimControl, account: SeededMaster
) -> None:
    wire: list[bytes] = []

    async def capture(request: httpx.Request) -> None:
        wire.append(request.url.query)

    async with httpx.AsyncClient(event_hooks={"request": [capture]}) as http:
        transport = Transport(
            sim.url,
            Credentials(account.api_key, SecretStr(account.api_secret)),
            recv_window_ms=5000,
            timeout_s=2,
            rate_limiter=RateLimiter(50),
            key_cap_ret_codes=(),
            max_retries=0,
            http_client=http,
            on_request=lambda event: None,
        )
        cursor = "a b%/=&+?é,~"
        call = Call(
            "GET", "/v5/user/sub-apikeys", {"subMemberId": account.subaccounts[0], "cursor": cursor}
        )
        # Past the signature check the simulator decodes the cursor and finds it malformed.
        with pytest.raises(InvalidRequestError, match="invalid cursor"):
            await transport.call(call)
    assert wire == [
        f"cursor=a%20b%25%2F%3D%26%2B%3F%C3%A9,~&subMemberId={account.subaccounts[0]}".encode()
    ]


async def test_a_wrong_secret_is_not_retried(sim: SimControl, account: SeededMaster) -> None:
    wrong = SeededMaster(account.master_uid, account.api_key, "x" * 36, [])
    async with make_client(sim, wrong) as client:
        with pytest.raises(Exception, match="10004"):
            await client.query_api()
    assert ret_codes(sim, QUERY_API) == [10004]


async def test_the_ip_limit_is_a_rate_limit_error_and_is_not_retried(
    client: BybitClient, sim: SimControl
) -> None:
    sim.configure(ip_limit_requests=2, ip_ban_seconds=0.5)
    await client.server_time()
    await client.server_time()
    with pytest.raises(RateLimitError) as info:
        await client.query_api()
    assert (info.value.http_status, info.value.ret_code) == (403, None)
    assert [entry["http_status"] for entry in sim.requests(QUERY_API)] == [403]
