"""A Ray actor's log records reach the front through its Outbox, plain enough to pickle."""

from __future__ import annotations

import logging
import logging.handlers
import pickle
from multiprocessing.queues import Queue
from typing import Any, cast

from api.pool.protocol import WorkerLog
from api.pool.ray_backend.actor import Outbox


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
