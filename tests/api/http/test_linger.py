"""LingeringClose on fake ASGI traffic: what is read after an early answer, and the bounds."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from api.http import linger
from api.http.linger import LingeringClose

Message = dict[str, Any]


async def _refuse_at_once(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 401, "headers": []})
    await send({"type": "http.response.body", "body": b'{"error": 1}'})


async def _read_one_then_refuse(scope: Any, receive: Any, send: Any) -> None:
    await receive()  # 413 after the first piece
    await _refuse_at_once(scope, receive, send)


async def _read_all_then_answer(scope: Any, receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    await _refuse_at_once(scope, receive, send)


def _run(
    app: Any, headers: list[tuple[bytes, bytes]], chunks: int, gap_s: float = 0.0
) -> tuple[list[Message], int]:
    """Run the middleware; (messages sent, body pieces left unread)."""
    sent: list[Message] = []
    left = [chunks]

    async def receive() -> Message:
        if left[0] <= 0:
            await asyncio.sleep(3600)  # a client that sends nothing more
        await asyncio.sleep(gap_s)
        left[0] -= 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": left[0] > 0}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/analyze", "headers": headers}
    asyncio.run(LingeringClose(app)(scope, receive, send))
    return sent, left[0]


LENGTH = [(b"content-length", b"102400")]
CHUNKED = [(b"transfer-encoding", b"chunked")]


@pytest.mark.parametrize(
    ("app", "headers", "chunks", "unread"),
    [
        (_refuse_at_once, LENGTH, 100, 0),  # 401 before reading: all of it is read and dropped
        (_refuse_at_once, CHUNKED, 100, 0),
        (_read_one_then_refuse, LENGTH, 100, 0),  # 413 in the middle
        (_read_all_then_answer, LENGTH, 100, 0),  # read by the app: nothing to add
        (_refuse_at_once, [], 0, 0),  # no body announced
        (_refuse_at_once, [(b"content-length", b"0")], 0, 0),
        # Waiting for "100 Continue": the client has sent nothing and will send nothing.
        (_refuse_at_once, [*LENGTH, (b"expect", b"100-continue")], 100, 100),
    ],
)
def test_the_rest_of_the_body_is_read_before_the_answer_ends(
    app: Any, headers: list[tuple[bytes, bytes]], chunks: int, unread: int
) -> None:
    sent, left = _run(app, headers, chunks)
    assert left == unread
    assert sent[0]["status"] == 401
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b'{"error": 1}'
    assert sent[-1]["type"] == "http.response.body" and not sent[-1].get("more_body")


def test_the_bytes_read_after_an_answer_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linger, "LINGER_MAX_BYTES", 10 * 1024)
    _, left = _run(_refuse_at_once, LENGTH, 100)
    assert left == 90


def test_the_time_spent_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linger, "LINGER_MAX_S", 0.3)
    started = time.monotonic()
    _, left = _run(_refuse_at_once, LENGTH, 100, gap_s=0.05)  # a trickle
    assert time.monotonic() - started < 1.0 and left > 80


def test_a_client_that_goes_quiet_is_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linger, "LINGER_IDLE_S", 0.2)
    started = time.monotonic()
    _, left = _run(_refuse_at_once, [(b"content-length", b"999999")], 3)
    assert left == 0 and time.monotonic() - started < 1.0
