"""Logging for every process through one writer in the front process (logrotate-safe)."""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import sys
from dataclasses import dataclass
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from api.masking import masked_request_path, masked_url

FORMAT = "%(asctime)s %(levelname)s %(processName)s[%(process)d] %(name)s:%(job)s %(message)s"


class AccessLinkFilter(logging.Filter):
    """Masks the links in a request's query (url=, callback_url=) on uvicorn's access lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access logs (client, method, path with query, http version, status).
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], masked_request_path(args[2]), *args[3:])
        return True


class ClientLinkFilter(logging.Filter):
    """Masks the links httpx logs for each request it sends (video downloads, callbacks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                masked_url(str(arg)) if str(arg).startswith(("http://", "https://")) else arg
                for arg in record.args
            )
        return True


class JobIdFilter(logging.Filter):
    """Puts ' job=<id>' on lines logged with extra={'job_id': ...}, nothing on the others."""

    def filter(self, record: logging.LogRecord) -> bool:
        job_id = getattr(record, "job_id", None)
        record.job = f" job={job_id}" if job_id else ""
        return True


@dataclass
class FrontLogging:
    """The queue workers log into and the listener that alone writes the file."""

    queue: Queue[Any]
    listener: logging.handlers.QueueListener
    log_file: Path

    def stop(self) -> None:
        self.listener.stop()
        root = logging.getLogger()
        for handler in list(root.handlers):
            if isinstance(handler, logging.handlers.QueueHandler):
                root.removeHandler(handler)


def setup_front_logging(log_file: Path, level: str) -> FrontLogging:
    """Root logger -> queue -> one listener thread -> WatchedFileHandler + stderr."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    formatter = logging.Formatter(FORMAT)
    # WatchedFileHandler reopens the file when logrotate moves it away ('create' mode).
    file_handler = logging.handlers.WatchedFileHandler(str(log_file), encoding="utf-8")
    stderr_handler = logging.StreamHandler(sys.stderr)
    for handler in (file_handler, stderr_handler):
        handler.setFormatter(formatter)
        handler.addFilter(JobIdFilter())
    queue: Queue[Any] = multiprocessing.get_context("spawn").Queue()
    listener = logging.handlers.QueueListener(
        queue, file_handler, stderr_handler, respect_handler_level=True
    )
    listener.start()
    _route_root_to(queue, level)
    # uvicorn's own loggers propagate to the root instead of printing on their own.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    logging.getLogger("uvicorn.access").addFilter(AccessLinkFilter())
    logging.getLogger("httpx").addFilter(ClientLinkFilter())
    return FrontLogging(queue=queue, listener=listener, log_file=log_file)


def setup_worker_logging(queue: Queue[Any], level: str) -> None:
    """In a worker: everything goes to the front's writer through the queue."""
    _route_root_to(queue, level)
    logging.captureWarnings(True)


def _route_root_to(queue: Queue[Any], level: str) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(logging.handlers.QueueHandler(queue))
    root.setLevel(level.upper())
