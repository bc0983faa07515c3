"""Crash accounting: which of a lost worker's jobs a crash is charged to, and what happens next.

A crash is charged only to its cause: the one job that was active (decoding or on the
model) when the worker died or hung, if only one was. A charged job runs again on
another worker until it has crashed more than ``job_retries`` times; jobs that were
merely waiting are never charged, and two active jobs are each run alone next time
so that a repeat crash names its cause.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.pool.slots import Attempt, LossReason


@dataclass(frozen=True)
class Settled:
    """What becomes of one job of a lost worker."""

    attempt: Attempt
    #: the crash was charged to it (its crash count went up)
    charged: bool
    #: it crashed more often than retries allow: it fails as worker_crashed
    give_up: bool


def settle(jobs: list[Attempt], reason: LossReason, retries: int, worker_id: int) -> list[Settled]:
    """Charge the crash (if any) and prepare each job to run again; in the order given."""
    active = [a for a in jobs if a.active] if reason in ("crashed", "hung") else []
    culprit = active[0] if len(active) == 1 else None
    settled: list[Settled] = []
    for attempt in jobs:
        if attempt is culprit:
            attempt.job.crashes += 1
            if attempt.job.crashes > retries:
                settled.append(Settled(attempt, charged=True, give_up=True))
                continue
            attempt.avoid_worker = worker_id
        else:
            # Two jobs were active: neither is charged, each runs alone next time.
            attempt.suspect = attempt.suspect or attempt in active
        attempt.reset()
        settled.append(Settled(attempt, charged=attempt is culprit, give_up=False))
    return settled
