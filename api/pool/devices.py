"""Where workers run: round-robin over visible GPUs, or the CPU, and threads per CPU worker."""

from __future__ import annotations

import os

from api.settings import Settings


def plan_devices(settings: Settings, gpu_count: int) -> list[str]:
    """Round-robin over GPUs with workers_per_gpu each, else settings.workers on the CPU."""
    if settings.device == "cpu" or (settings.device == "auto" and gpu_count == 0):
        return ["cpu"] * settings.workers
    if settings.device.startswith("cuda:"):
        return [settings.device] * settings.workers
    gpus = max(gpu_count, 1)
    total = gpus * settings.workers_per_gpu
    if "workers" in settings.model_fields_set:
        total = settings.workers  # an explicit --workers caps (or raises) the total
    return [f"cuda:{i % gpus}" for i in range(total)]


def cpu_threads_per_worker(cpu_workers: int) -> int:
    """Torch threads for one CPU worker: its share of the cores, less one for decoding.

    OpenMP regions with more threads than free cores stall at every barrier: on a
    2-core machine a tiny model ran 30x slower with 2 threads beside a decoder.
    """
    share = (os.cpu_count() or 1) // max(1, cpu_workers)
    return max(1, share - 1)


def visible_gpu_count() -> int:
    """GPUs this process may use, without importing torch or creating a CUDA context."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            count = int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no driver, no library: a CPU machine
        return 0
    if visible is not None:
        return min(count, len([d for d in visible.split(",") if d.strip()]))
    return count
