"""NVIDIA GPU readings through pynvml; without a GPU, driver or pynvml they report why."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


class NoGpuError(RuntimeError):
    """No usable NVIDIA GPU: pynvml missing, no driver, or no device."""


@dataclass
class GpuProcess:
    """One process holding memory on one GPU."""

    gpu_index: int
    pid: int
    used_memory_bytes: int | None


@dataclass
class GpuInfo:
    """One GPU's readings; a field is None when the device does not report it."""

    index: int
    name: str
    uuid: str | None = None
    utilization_percent: float | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    processes: list[GpuProcess] = field(default_factory=list)

    @property
    def memory_used_percent(self) -> float | None:
        if not self.memory_used_bytes or not self.memory_total_bytes:
            return None
        return 100.0 * self.memory_used_bytes / self.memory_total_bytes


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _optional(read: Callable[[], T]) -> T | None:
    """A reading some GPUs lack (power on consumer cards, say) must not hide the others."""
    try:
        return read()
    except Exception:  # pynvml raises NVMLError subclasses per unsupported query
        return None


@contextmanager
def nvml() -> Iterator[Any]:
    """pynvml, initialised for the block; NoGpuError with the reason when that fails."""
    try:
        import pynvml
    except ImportError as err:
        raise NoGpuError("no NVIDIA GPU (pynvml is not installed)") from err
    try:
        pynvml.nvmlInit()
    except Exception as err:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        raise NoGpuError(f"no NVIDIA GPU (NVML: {err})") from err
    try:
        if pynvml.nvmlDeviceGetCount() == 0:
            raise NoGpuError("no NVIDIA GPU (NVML found no device)")
        yield pynvml
    finally:
        pynvml.nvmlShutdown()


def _processes(nv: Any, handle: Any, index: int) -> list[GpuProcess]:
    seen: dict[int, GpuProcess] = {}
    found: list[Any] = []
    for query in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        try:
            found += getattr(nv, query)(handle)
        except Exception:  # not supported on this device or driver
            continue
    for proc in found:
        used = getattr(proc, "usedGpuMemory", None)
        # NVML reports "not available" as a huge sentinel or None (e.g. in containers).
        if not isinstance(used, int) or used >= 2**63:
            used = None
        seen.setdefault(int(proc.pid), GpuProcess(index, int(proc.pid), used))
    return sorted(seen.values(), key=lambda p: p.pid)


def _read_one(nv: Any, index: int) -> GpuInfo:
    handle = nv.nvmlDeviceGetHandleByIndex(index)
    memory = _optional(lambda: nv.nvmlDeviceGetMemoryInfo(handle))
    util = _optional(lambda: nv.nvmlDeviceGetUtilizationRates(handle))
    power_mw = _optional(lambda: nv.nvmlDeviceGetPowerUsage(handle))
    limit_mw = _optional(lambda: nv.nvmlDeviceGetEnforcedPowerLimit(handle))
    return GpuInfo(
        index=index,
        name=_text(_optional(lambda: nv.nvmlDeviceGetName(handle)) or "unknown"),
        uuid=_optional(lambda: _text(nv.nvmlDeviceGetUUID(handle))),
        utilization_percent=float(util.gpu) if util is not None else None,
        memory_used_bytes=int(memory.used) if memory is not None else None,
        memory_total_bytes=int(memory.total) if memory is not None else None,
        temperature_c=_optional(
            lambda: float(nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU))
        ),
        power_w=power_mw / 1000.0 if power_mw is not None else None,
        power_limit_w=limit_mw / 1000.0 if limit_mw is not None else None,
        processes=_processes(nv, handle, index),
    )


@dataclass
class GpuUsage:
    """What /metrics exports of one GPU; None when the device does not report it."""

    index: int
    memory_used_bytes: int | None
    utilization_percent: float | None


def read_usage() -> list[GpuUsage]:
    """Memory in use and utilisation per GPU only: no names, temperatures or process lists."""
    with nvml() as nv:
        return [_usage_of(nv, i) for i in range(nv.nvmlDeviceGetCount())]


def _usage_of(nv: Any, index: int) -> GpuUsage:
    handle = nv.nvmlDeviceGetHandleByIndex(index)
    memory = _optional(lambda: nv.nvmlDeviceGetMemoryInfo(handle))
    util = _optional(lambda: nv.nvmlDeviceGetUtilizationRates(handle))
    return GpuUsage(
        index=index,
        memory_used_bytes=int(memory.used) if memory is not None else None,
        utilization_percent=float(util.gpu) if util is not None else None,
    )


def read_gpus() -> list[GpuInfo]:
    """Every GPU with its processes; raises NoGpuError (message starts 'no NVIDIA GPU')."""
    with nvml() as nv:
        return [_read_one(nv, i) for i in range(nv.nvmlDeviceGetCount())]
