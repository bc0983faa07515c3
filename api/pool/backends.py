"""Picks the worker backend the settings ask for (local processes or Ray actors)."""

from __future__ import annotations

from multiprocessing.queues import Queue
from typing import Any

from api.pool.devices import cpu_threads_per_worker
from api.pool.handle import WorkerLauncher
from api.pool.local.launcher import LocalLauncher
from api.settings import Settings


class BackendUnavailable(Exception):
    """The chosen backend cannot start here; the message says what to install or set."""


def make_launcher(
    settings: Settings, log_queue: Queue[Any] | None, devices: list[str]
) -> WorkerLauncher:
    """The launcher for settings.backend; Ray is imported only when asked for."""
    if settings.backend == "ray":
        try:
            from api.pool.ray_backend.launcher import RayLauncher
        except ImportError as exc:
            raise BackendUnavailable(
                f"TIKTOK_ANALYZER_BACKEND=ray needs Ray: pip install 'tiktok-analyzer[ray]' ({exc})"
            ) from None
        launcher: WorkerLauncher = RayLauncher(settings)
        return launcher
    cpu_workers = sum(1 for d in devices if d == "cpu")
    return LocalLauncher(settings, log_queue, cpu_threads_per_worker(cpu_workers))
