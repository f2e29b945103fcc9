"""A real bybit-sim process on loopback; each test starts from a reset, freshly seeded account."""

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bybit_client.support import SCALE, Account, SimControl, make_client
from keymint.bybit import BybitClient


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"bybit-sim exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/v5/market/time", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"bybit-sim did not serve {url} within 20 s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("bybit-sim") / "sim.log"
    command = [str(Path(sys.executable).parent / "bybit-sim"), "--host", "127.0.0.1"]
    with log.open("wb") as out:
        process = subprocess.Popen([*command, "--port", str(port)], stdout=out, stderr=out)
    try:
        _wait_until_serving(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def sim(sim_url: str) -> Iterator[SimControl]:
    control = SimControl(sim_url)
    control.reset()
    control.configure(rate_limit_scale=SCALE)
    yield control
    control.close()


@pytest.fixture
def account(sim: SimControl) -> Account:
    return sim.seed(subaccounts=3)


@pytest.fixture
async def client(sim: SimControl, account: Account) -> AsyncIterator[BybitClient]:
    async with make_client(sim, account) as bybit:
        yield bybit
