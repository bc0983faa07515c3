"""What one turn of the supervisor read from a worker, and the keyframes written from it.

The JPEGs of finished jobs are written here, between the turn's two locked parts:
file I/O never holds the lock every HTTP request takes, and a job is still only
reported done once its keyframes are on disk.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.jobs.keyframes import KeyframeStore
from api.pool.handle import WorkerGone
from api.pool.protocol import JobDone, ToFront
from api.pool.slots import Slot


@dataclass(frozen=True)
class Received:
    """A worker's messages since the last turn; ``gone`` once its channel closed."""

    slot: Slot
    messages: list[ToFront]
    gone: bool = False


def receive(slot: Slot) -> Received:
    """What the slot's worker sent (the supervisor's lock held: the channel is shared)."""
    if slot.handle is None:
        return Received(slot, [])
    try:
        return Received(slot, slot.handle.receive())
    except WorkerGone as gone:
        return Received(slot, gone.last, gone=True)


def store_keyframes(keyframes: KeyframeStore | None, inbox: list[Received]) -> None:
    """Write the keyframes of the jobs that finished (without the supervisor's lock)."""
    if keyframes is None:
        return
    for received in inbox:
        for message in received.messages:
            # Only the loop thread changes a slot's jobs, so reading them here is safe.
            if isinstance(message, JobDone) and received.slot.attempt(message.job_id):
                keyframes.keep(message.job_id, message.keyframes, message.result)
