"""Lingering close: an answer sent before the upload ended still reaches the client.

A client that sends its whole body before reading (Python's urllib) gets ``Connection
reset by peer`` instead of an early refusal (401, 413, 503, 507) when the server closes
with unread bytes. As nginx does, the rest of the body is read and dropped, within bounds,
after the answer is written and before the connection is closed.
"""

from __future__ import annotations

import time

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: the most bytes read and dropped after an early answer
LINGER_MAX_BYTES = 64 * 1024 * 1024
#: the longest time spent on it, and the longest wait for the next piece
LINGER_MAX_S = 5.0
LINGER_IDLE_S = 1.0


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {bytes(k): bytes(v) for k, v in scope["headers"]}


def _announces_body(scope: Scope) -> bool:
    headers = _headers(scope)
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        return True
    length = headers.get(b"content-length", b"0").strip()
    return length.isdigit() and int(length) > 0


def _awaits_continue(scope: Scope) -> bool:
    return _headers(scope).get(b"expect", b"").lower() == b"100-continue"


async def drain(receive: Receive) -> int:
    """Read and drop the rest of the request body, within the bounds; bytes dropped."""
    dropped, deadline = 0, time.monotonic() + LINGER_MAX_S
    while dropped < LINGER_MAX_BYTES:
        wait = min(LINGER_IDLE_S, deadline - time.monotonic())
        if wait <= 0:
            break
        message: Message | None = None
        with anyio.move_on_after(wait):
            message = await receive()
        if message is None:
            break  # the client went quiet
        dropped += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    return dropped


class LingeringClose:
    """Holds the end of an early answer until the client's body is read (or bounds hit)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _announces_body(scope):
            await self.app(scope, receive, send)
            return
        read_from, body_done = False, False

        async def tracked_receive() -> Message:
            nonlocal read_from, body_done
            read_from = True
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def lingering_send(message: Message) -> None:
            nonlocal body_done
            last = message["type"] == "http.response.body" and not message.get("more_body")
            # A client still waiting for "100 Continue" has sent nothing: nothing to read.
            if not last or body_done or (_awaits_continue(scope) and not read_from):
                await send(message)
                return
            await send({**message, "more_body": True})
            await drain(receive)
            body_done = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app(scope, tracked_receive, lingering_send)
