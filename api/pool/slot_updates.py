"""How each worker message about the worker itself (not a job's end) updates its slot."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from api.pool.protocol import (
    Heartbeat,
    JobBegun,
    JobOnModel,
    JobPrepared,
    MemoryReleased,
    WorkerFailed,
    WorkerLog,
    WorkerReady,
    WorkerStarting,
)
from api.pool.slots import Slot

log = logging.getLogger("api.supervisor")


def _heartbeat(slot: Slot, message: Heartbeat) -> None:
    slot.current_job = message.job_id
    slot.progress = dict(message.others)
    if message.job_id is not None:
        slot.progress[message.job_id] = message.progress


def _starting(slot: Slot, message: WorkerStarting) -> None:
    slot.pid, slot.node = message.pid, message.node or slot.node


def _ready(slot: Slot, message: WorkerReady) -> None:
    slot.state, slot.ready_at, slot.model = "READY", time.monotonic(), message.model
    slot.last_error, slot.permanent_error = None, False


def _failed(slot: Slot, message: WorkerFailed) -> None:
    slot.state = "ERROR"
    slot.last_error = f"{message.code}: {message.message}"
    slot.permanent_error = message.permanent


def _begun(slot: Slot, message: JobBegun) -> None:
    attempt = slot.attempt(message.job_id)
    if attempt is not None:
        attempt.begun, attempt.deadline = True, time.monotonic() + attempt.limit_s


def _prepared(slot: Slot, message: JobPrepared) -> None:
    attempt = slot.attempt(message.job_id)
    if attempt is not None:
        attempt.prepared, attempt.prepare_s, attempt.deadline = True, message.prepare_s, None


def _on_model(slot: Slot, message: JobOnModel) -> None:
    attempt = slot.attempt(message.job_id)
    if attempt is None:
        return
    attempt.on_model = True
    # Videos sharing model calls take about as long as one after the other: the batch
    # has the sum of their times, so it never times out where each alone would not.
    shared = [slot.attempt(job_id) for job_id in message.batch or (message.job_id,)]
    budgets = [max(1.0, a.limit_s - a.prepare_s) for a in shared if a is not None]
    attempt.model_budget_s = sum(budgets) or max(1.0, attempt.limit_s - attempt.prepare_s)
    attempt.batch_size = max(1, len(budgets))
    attempt.deadline = time.monotonic() + attempt.model_budget_s


def _released(slot: Slot, message: MemoryReleased) -> None:
    log.info("worker %d released cached memory (ok=%s)", slot.id, message.ok)


def _log(slot: Slot, message: WorkerLog) -> None:
    logging.getLogger(message.record.name).handle(message.record)


#: the update for each message type that does not end a job
SLOT_UPDATES: dict[type, Callable[[Slot, Any], None]] = {
    Heartbeat: _heartbeat,
    WorkerStarting: _starting,
    WorkerReady: _ready,
    WorkerFailed: _failed,
    JobBegun: _begun,
    JobPrepared: _prepared,
    JobOnModel: _on_model,
    MemoryReleased: _released,
    WorkerLog: _log,
}
