"""Retention: finished jobs older than the setting go, with their results and keyframes."""

from __future__ import annotations

import logging
import sqlite3
import time

from api.jobs.keyframes import KeyframeStore
from api.jobs.store import JobStore
from api.settings import Settings

log = logging.getLogger("api.jobs.retention")

#: how often the pass runs (it is cheap: one indexed query)
RETENTION_INTERVAL_S = 3600.0


class Retention:
    """Run :meth:`tick` from the main loop; it does the pass at most once an interval."""

    def __init__(self, settings: Settings, store: JobStore, keyframes: KeyframeStore) -> None:
        self.settings, self.store, self.keyframes = settings, store, keyframes
        self._next_at = 0.0

    def tick(self, now: float | None = None) -> int:
        """Remove what has expired if a pass is due; returns how many jobs went."""
        now = time.time() if now is None else now
        if self.settings.job_retention_days <= 0 or now < self._next_at:
            return 0
        self._next_at = now + RETENTION_INTERVAL_S
        cutoff = now - self.settings.job_retention_days * 86400
        try:
            removed = self.store.remove_finished_before(cutoff)
        except sqlite3.Error as exc:  # a full disk: try again next interval
            log.warning("retention pass skipped: %s", exc)
            return 0
        for job_id in removed:
            self.keyframes.remove(job_id)
        if removed:
            log.info("removed %d job(s) finished before the retention limit", len(removed))
        return len(removed)
