"""A running worker as the supervisor sees it, whatever runs it (a local process, a Ray actor)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from api.pool.protocol import ToFront, ToWorker


class WorkerGone(Exception):
    """The worker died or its channel closed; ``last`` holds what it said just before."""

    def __init__(self, last: list[ToFront] | None = None) -> None:
        super().__init__("worker gone")
        self.last = last or []


class WorkerHandle(ABC):
    """The supervisor's end of one worker: send, receive, kill."""

    pid: int | None = None
    node: str | None = None

    @abstractmethod
    def send(self, message: ToWorker) -> bool:
        """Deliver a message; False if the worker is gone (its death shows on receive)."""

    @abstractmethod
    def receive(self) -> list[ToFront]:
        """What the worker sent since the last call, without blocking; WorkerGone once dead."""

    def waitables(self) -> list[Any]:
        """Objects multiprocessing.connection.wait can watch; none means poll by timer."""
        return []

    @abstractmethod
    def stop(self, grace_s: float) -> list[ToFront]:
        """Wait up to grace_s for a clean exit after Stop, then kill; returns last messages."""

    @abstractmethod
    def kill(self) -> None:
        """End the worker now and release its resources."""


class WorkerLauncher(ABC):
    """Starts workers of one backend."""

    backend: str = ""

    @abstractmethod
    def launch(self, slot_id: int, device: str) -> WorkerHandle:
        """Start a worker for this slot on this device; its first message is WorkerStarting."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release what the backend holds (a Ray runtime, a log queue)."""
