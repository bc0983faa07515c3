"""/metrics GPU gauges: a light NVML read per scrape, and none at all once no GPU was found.

pynvml is replaced by a stand-in that records the NVML calls: this machine has no GPU.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest

from monitoring.metrics import ServiceMetrics


class FakeNvml:
    """The pynvml calls GpuCollector may make, for ``devices`` GPUs (0: no driver)."""

    def __init__(self, devices: int) -> None:
        self.devices = devices
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        # Any query not defined below (names, temperatures, processes) is recorded and fails.
        if not name.startswith("nvml"):
            raise AttributeError(name)
        self.calls.append(name)
        raise RuntimeError(f"{name} is not expected at scrape time")

    def nvmlInit(self) -> None:
        self.calls.append("nvmlInit")
        if self.devices == 0:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlShutdown(self) -> None:
        self.calls.append("nvmlShutdown")

    def nvmlDeviceGetCount(self) -> int:
        return self.devices

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return SimpleNamespace(used=(handle + 1) * 2**30, total=16 * 2**30)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=40 + handle)


def _gpu_lines(metrics: ServiceMetrics) -> list[str]:
    text = metrics.render().decode()
    return [line for line in text.splitlines() if line.startswith("tiktok_analyzer_gpu_")]


def test_a_machine_without_gpu_is_asked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml(devices=0)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    metrics = ServiceMetrics()
    assert _gpu_lines(metrics) == []
    assert _gpu_lines(metrics) == []
    assert nvml.calls == ["nvmlInit"]


def test_gpu_gauges_read_memory_and_utilisation_only(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml(devices=2)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    metrics = ServiceMetrics()
    nvml.calls.clear()  # the registry may collect once at registration, to learn the names
    for _ in range(2):  # every scrape reads again
        assert _gpu_lines(metrics) == [
            'tiktok_analyzer_gpu_memory_used_bytes{gpu="0"} 1.073741824e+09',
            'tiktok_analyzer_gpu_memory_used_bytes{gpu="1"} 2.147483648e+09',
            'tiktok_analyzer_gpu_utilization_ratio{gpu="0"} 0.4',
            'tiktok_analyzer_gpu_utilization_ratio{gpu="1"} 0.41',
        ]
    assert nvml.calls == ["nvmlInit", "nvmlShutdown"] * 2
