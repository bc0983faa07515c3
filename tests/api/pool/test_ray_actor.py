"""The Ray actor's parts that need no Ray: its Outbox as a log queue, its spool folder."""

from __future__ import annotations

import logging
import logging.handlers
import os
import pickle
import subprocess
import sys
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any, cast

from api.pool.protocol import WorkerLog
from api.pool.ray_backend.actor import Outbox, spool_folder


def test_a_record_with_args_and_an_exception_arrives_as_plain_text() -> None:
    outbox = Outbox("worker-3")
    logger = logging.getLogger("test.actor_outbox")
    handler = logging.handlers.QueueHandler(cast("Queue[Any]", outbox))
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("bad frame")
        except ValueError:
            logger.exception("job %s failed", "j1")
    finally:
        logger.removeHandler(handler)
    [message] = outbox.drain(0.0)
    assert isinstance(message, WorkerLog)
    record = message.record
    assert record.processName == "worker-3"
    assert record.msg.startswith("job j1 failed") and "ValueError: bad frame" in record.msg
    assert record.args is None and record.exc_info is None
    assert pickle.loads(pickle.dumps(record)).getMessage() == record.msg


def test_an_actor_starting_clears_the_spool_folders_of_dead_actors(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    left = root / dead.stdout.strip()  # an actor killed with a video still in its folder
    left.mkdir(parents=True)
    (left / "job").write_bytes(b"video")
    alive = root / str(os.getppid())
    alive.mkdir()
    other = root / "not-an-actor"
    other.mkdir()
    mine = spool_folder(root)
    assert mine == root / str(os.getpid()) and mine.is_dir()
    assert sorted(p.name for p in root.iterdir()) == sorted([mine.name, alive.name, other.name])
