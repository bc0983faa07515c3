"""A worker as a spawned process on this machine, talking to the front over a pipe.

Besides the :class:`api.pool.worker.Worker` threads, a reader thread takes
messages from the pipe and a heartbeat thread beats even during a long model
call, so a hung model call is caught by the per-job time limit, and a silent
worker (frozen interpreter, SIGSTOP) by the heartbeat timeout.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from typing import Any

from api.logging_setup import setup_worker_logging
from api.pool.protocol import ToFront
from api.pool.worker import Worker
from api.settings import Settings

PR_SET_PDEATHSIG = 1


def worker_main(
    settings: Settings,
    worker_id: int,
    device: str,
    conn: Connection,
    log_queue: Queue[Any],
    parent_pid: int,
    cpu_threads: int,
) -> None:
    """Entry point of a spawned worker process."""
    _die_with_parent(parent_pid)
    # The front decides when workers stop (after draining); Ctrl-C and systemd's
    # SIGTERM to the whole cgroup must not cut a job short. SIGKILL still works.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    setup_worker_logging(log_queue, settings.log_level)
    analyzer_device = select_device(device, cpu_threads)
    send_lock = threading.Lock()

    def send(message: ToFront) -> None:
        try:
            with send_lock:
                conn.send(message)
        except (OSError, EOFError, ValueError):
            os._exit(0)  # the front process is gone: nothing left to work for

    worker = Worker(settings, worker_id, analyzer_device, send)
    threading.Thread(
        target=_heartbeat_loop, args=(worker, parent_pid), name="heartbeat", daemon=True
    ).start()
    threading.Thread(target=_reader_loop, args=(worker, conn), name="reader", daemon=True).start()
    code = worker.run()
    logging.shutdown()
    sys.exit(code)


def _heartbeat_loop(worker: Worker, parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        worker.send(worker.heartbeat())
        time.sleep(worker.settings.heartbeat_interval_s)


def _reader_loop(worker: Worker, conn: Connection) -> None:
    while True:
        try:
            worker.deliver(conn.recv())
        except (EOFError, OSError):
            os._exit(0)  # pipe closed: the front died


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when the front process dies, however it dies."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the heartbeat thread's getppid() check and the pipe EOF remain
    if os.getppid() != parent_pid:
        os._exit(0)  # the parent died before prctl took effect


def select_device(device: str, cpu_threads: int) -> str:
    """Pin this process to its device before torch is imported; returns the device to use."""
    if device.startswith("cuda:"):
        index = int(device.split(":", 1)[1])
        visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
        # One visible GPU per worker: no stray CUDA context on GPU 0 from every worker.
        os.environ["CUDA_VISIBLE_DEVICES"] = visible[index] if index < len(visible) else str(index)
        return "cuda:0"
    if device == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        import torch

        # Workers share the cores; each using all of them would oversubscribe the CPU.
        torch.set_num_threads(max(1, cpu_threads))
    return device
