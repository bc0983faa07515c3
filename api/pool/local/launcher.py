"""Local backend: each worker is a spawned process on this machine with a pipe to the front."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import Any

from api.pool.handle import WorkerGone, WorkerHandle, WorkerLauncher
from api.pool.local.process import worker_main
from api.pool.protocol import ToFront, ToWorker
from api.settings import Settings


class LocalHandle(WorkerHandle):
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process, self.conn, self.pid = process, conn, process.pid

    def send(self, message: ToWorker) -> bool:
        try:
            self.conn.send(message)
            return True
        except (OSError, ValueError):
            return False

    def receive(self) -> list[ToFront]:
        messages: list[ToFront] = []
        try:
            while self.conn.poll():
                messages.append(self.conn.recv())
        except (EOFError, OSError):
            raise WorkerGone(messages) from None
        if not self.process.is_alive():
            raise WorkerGone(messages)
        return messages

    def waitables(self) -> list[Any]:
        return [self.conn, self.process.sentinel]

    def stop(self, grace_s: float) -> list[ToFront]:
        self.process.join(grace_s)
        messages: list[ToFront] = []
        with contextlib.suppress(EOFError, OSError):
            while self.conn.poll():
                messages.append(self.conn.recv())
        self.kill()
        return messages

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5.0)
        if not self.process.is_alive():
            self.process.close()
        self.conn.close()


class LocalLauncher(WorkerLauncher):
    backend = "local"

    def __init__(self, settings: Settings, log_queue: Queue[Any] | None, cpu_threads: int) -> None:
        self.settings, self.log_queue, self.cpu_threads = settings, log_queue, cpu_threads
        self._ctx = multiprocessing.get_context("spawn")

    def launch(self, slot_id: int, device: str) -> WorkerHandle:
        # Only the main thread launches: PR_SET_PDEATHSIG in the worker fires when the
        # spawning *thread* exits, not just the process.
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=worker_main,
            args=(
                self.settings,
                slot_id,
                device,
                child_conn,
                self.log_queue,
                os.getpid(),
                self.cpu_threads,
            ),
            name=f"worker-{slot_id}",
        )
        process.start()
        child_conn.close()  # only the child holds its end: its death shows as EOF here
        return LocalHandle(process, parent_conn)
