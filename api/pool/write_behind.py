"""The supervisor's job-store writes, in order; one that fails (disk full) waits and is retried.

Memory keeps the truth until the database has it too: a failed write stays at the
head of the queue with every write after it, and the loop retries them with a
doubling back-off. ``storage_error`` says why while writes wait (``/health`` shows it).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable

from api.errors import disk_full

log = logging.getLogger("api.supervisor")

#: a job-store write that failed (disk full) is retried this often at most
WRITE_RETRY_MAX_S = 10.0


def storage_problem(exc: BaseException) -> str:
    """A plain-words reason for a failed job-store write."""
    if disk_full(exc):
        return f"disk full: cannot write the job database ({exc})"
    return f"cannot write the job database: {exc}"


class WriteBehind:
    """Job-store writes applied in order, each followed by what must wait for it."""

    def __init__(self) -> None:
        self._writes: deque[tuple[Callable[[], object], Callable[[], None] | None]] = deque()
        self._retry_at = 0.0
        self._backoff_s = 1.0
        self.storage_error: str | None = None

    @property
    def waiting(self) -> bool:
        """Writes are held back: nothing new should start until the store has them."""
        return bool(self._writes)

    def persist(self, write: Callable[[], object], then: Callable[[], None] | None = None) -> None:
        """Write to the job store now, or keep the write (in order) until the disk allows it."""
        self._writes.append((write, then))
        self.flush(force=True)

    def flush(self, *, force: bool = False) -> None:
        """Apply the waiting writes once their back-off has passed (``force``: a new write)."""
        now = time.monotonic()
        if (
            not self._writes
            or (now < self._retry_at and not force)
            or (force and len(self._writes) > 1)
        ):
            return
        while self._writes:
            write, then = self._writes[0]
            try:
                write()
            except (sqlite3.Error, OSError) as exc:
                if self.storage_error is None:
                    log.error("%s; keeping the changes in memory", storage_problem(exc))
                self.storage_error = storage_problem(exc)
                self._retry_at = now + self._backoff_s
                self._backoff_s = min(self._backoff_s * 2, WRITE_RETRY_MAX_S)
                return
            self._writes.popleft()
            if then is not None:
                then()
        if self.storage_error is not None:
            log.info("the job database takes writes again")
        self.storage_error, self._backoff_s = None, 1.0
