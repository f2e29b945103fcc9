"""The ASGI application: `/__sim__/` goes to the control surface, everything else is Bybit."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from bybit_sim import control
from bybit_sim.bybit_api import Delivery, Incoming, process
from bybit_sim.config import SimConfig
from bybit_sim.persistence import StateFile
from bybit_sim.sim import Simulator
from bybit_sim.transport import send_reply, send_truncated

log = logging.getLogger(__name__)


class SimApp:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        path: str = scope["path"]
        if path.startswith(control.CONTROL_PREFIX):
            await send_reply(send, control.handle(self.sim, scope["method"], path, body))
            return
        client = scope.get("client")
        incoming = Incoming(
            method=scope["method"],
            path=path,
            # The raw request-line query: signatures are checked against exactly these bytes.
            raw_query=scope["query_string"],
            body=body,
            headers=request.headers,
            client_ip=client[0] if client else "",
        )
        await self._bybit(incoming, receive, send)

    async def _bybit(self, incoming: Incoming, receive: Receive, send: Send) -> None:
        sim = self.sim
        arrived_ms = sim.clock.now_ms()
        outcome = await process(sim, incoming)
        sim.persist()
        answered = outcome.delivery is Delivery.ANSWER
        sim.requests.record(
            method=incoming.method,
            path=incoming.path,
            uid=outcome.uid,
            api_key=incoming.headers.get("x-bapi-api-key"),
            ret_code=outcome.reply.ret_code,
            http_status=outcome.reply.status if answered else None,
            ts_ms=arrived_ms,
        )
        if answered:
            await send_reply(send, outcome.reply)
            return
        if outcome.delivery is Delivery.HOLD:
            await self._hold(receive)
        log.info(
            "fault: closing the connection of %s %s unanswered", incoming.method, incoming.path
        )
        await send_truncated(send, outcome.reply)

    async def _hold(self, receive: Receive) -> None:
        """Wait until the client gives up, a reset releases held requests, or the hold ends."""
        waiters = {
            asyncio.ensure_future(self.sim.release_held.wait()),
            asyncio.ensure_future(receive()),
        }
        _, pending = await asyncio.wait(
            waiters,
            timeout=self.sim.config.fault_timeout_hold_seconds,
            return_when=asyncio.FIRST_COMPLETED,
        )
        for waiter in pending:
            waiter.cancel()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.sim.release_held.set()
                self.sim.persist()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(config: SimConfig, state_file: StateFile) -> SimApp:
    return SimApp(Simulator(config, state_file))
