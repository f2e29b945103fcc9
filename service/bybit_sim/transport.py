"""Writing replies to an ASGI `send`, including the deliberately broken ones faults ask for."""

from __future__ import annotations

from starlette.types import Send

from bybit_sim.envelope import Reply

# Bytes promised but never sent, so the client knows the answer was cut short.
MISSING_BYTES = 1024


def _headers(reply: Reply, content_length: int) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-type", reply.content_type.encode()),
        (b"content-length", str(content_length).encode()),
    ]
    headers.extend((name.encode(), value.encode()) for name, value in reply.headers.items())
    return headers


async def send_reply(send: Send, reply: Reply) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": _headers(reply, len(reply.body)),
        }
    )
    await send({"type": "http.response.body", "body": reply.body})


async def send_truncated(send: Send, reply: Reply) -> None:
    """Start `reply`, send half its body and stop: the server then closes the connection.

    Returning with a response started but incomplete makes uvicorn close the socket (it logs
    "ASGI callable returned without completing response."), so the client sees a transport error
    and never the answer.
    """
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": _headers(reply, len(reply.body) + MISSING_BYTES),
        }
    )
    await send(
        {
            "type": "http.response.body",
            "body": reply.body[: len(reply.body) // 2],
            "more_body": True,
        }
    )
