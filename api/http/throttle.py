"""Wrong API keys counted per client address: past a limit a minute, 429 until it passes."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from api.errors import TooManyAttemptsError

#: the window failures are counted over
WINDOW_S = 60.0
#: addresses remembered at most: a flood of addresses cannot grow the front's memory
MAX_CLIENTS = 10_000


class FailureThrottle:
    """Called from the event loop only (the key check and POST /session), so no lock."""

    def __init__(
        self, limit: int, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._failures: dict[str, deque[float]] = {}

    def check(self, client: str) -> None:
        """Raise TooManyAttemptsError while ``client`` has used up its wrong keys."""
        recent = self._recent(client)
        if len(recent) >= self.limit:
            wait = recent[0] + self.window_s - self.clock()
            raise TooManyAttemptsError(max(1, math.ceil(wait)))

    def fail(self, client: str) -> None:
        """Count one wrong key from ``client``."""
        if client not in self._failures and len(self._failures) >= MAX_CLIENTS:
            self._forget_oldest()
        self._failures.setdefault(client, deque(maxlen=self.limit)).append(self.clock())

    def _recent(self, client: str) -> deque[float]:
        recent = self._failures.get(client, deque())
        cutoff = self.clock() - self.window_s
        while recent and recent[0] <= cutoff:
            recent.popleft()
        if not recent:
            self._failures.pop(client, None)
        return recent

    def _forget_oldest(self) -> None:
        # Expired entries first; if every address is still counting, the longest known.
        for client in list(self._failures):
            self._recent(client)
        if len(self._failures) >= MAX_CLIENTS:
            self._failures.pop(next(iter(self._failures)))


def client_address(scope: Mapping[str, Any]) -> str:
    """The peer's address (behind a proxy: the proxy's, unless uvicorn's proxy headers apply)."""
    client = scope.get("client")
    return str(client[0]) if isinstance(client, (tuple, list)) and client else "unknown"
