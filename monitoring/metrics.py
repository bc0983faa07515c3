"""Prometheus metric definitions for the service, one registry per app."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from monitoring.gpu import NoGpuError, read_usage
from monitoring.heap import malloc_in_use_bytes

# `*_created` series double every counter for no use to a dashboard.
disable_created_metrics()  # type: ignore[no-untyped-call]

PREFIX = "tiktok_analyzer"

#: seconds; an analysis takes from about a second (tiny model) to many minutes (long video, CPU)
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600)
#: analysis time / video duration; below 1 is faster than real time
REALTIME_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10)
#: seconds a job waits in the queue before a worker takes it
QUEUE_WAIT_BUCKETS = (0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)


class GpuCollector(Collector):
    """GPU memory and utilisation read from NVML at scrape time; nothing without a GPU."""

    def __init__(self) -> None:
        # A machine without a GPU, driver or pynvml stays so: not asked again at every scrape.
        self._no_gpu = False

    def collect(self) -> Iterator[Metric]:
        if self._no_gpu:
            return
        try:
            gpus = read_usage()
        except NoGpuError:
            self._no_gpu = True
            return
        memory = GaugeMetricFamily(
            f"{PREFIX}_gpu_memory_used_bytes", "GPU memory in use, per GPU.", labels=["gpu"]
        )
        busy = GaugeMetricFamily(
            f"{PREFIX}_gpu_utilization_ratio",
            "Share of the last sample period the GPU was busy (0-1), per GPU.",
            labels=["gpu"],
        )
        for gpu in gpus:
            if gpu.memory_used_bytes is not None:
                memory.add_metric([str(gpu.index)], gpu.memory_used_bytes)
            if gpu.utilization_percent is not None:
                busy.add_metric([str(gpu.index)], gpu.utilization_percent / 100.0)
        yield memory
        yield busy


class HeapCollector(Collector):
    """The front's malloc bytes in use, read at scrape time; nothing where glibc cannot tell."""

    def collect(self) -> Iterator[Metric]:
        in_use = malloc_in_use_bytes()
        if in_use is None:
            return
        yield GaugeMetricFamily(
            f"{PREFIX}_heap_in_use_bytes",
            "C heap the front process holds in use (glibc mallinfo2); unlike RSS it leaves"
            " out freed memory the allocator keeps, so a steady rise is a leak.",
            value=in_use,
        )


class ServiceMetrics:
    """Every metric the service exports; a private registry so tests can build several apps."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            f"{PREFIX}_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            registry=r,
        )
        self.jobs = Counter(
            f"{PREFIX}_jobs",
            "Jobs that reached a final state, by state (done, failed, cancelled).",
            ["state"],
            registry=r,
        )
        self.job_errors = Counter(
            f"{PREFIX}_job_errors",
            "Failed jobs by error code.",
            ["code"],
            registry=r,
        )
        self.rejected = Counter(
            f"{PREFIX}_uploads_rejected",
            "Uploads refused before a job was created, by error code.",
            ["code"],
            registry=r,
        )
        self.job_duration = Histogram(
            f"{PREFIX}_job_duration_seconds",
            "Wall time of a finished analysis on its worker (decode + model).",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.realtime_factor = Histogram(
            f"{PREFIX}_job_realtime_factor_ratio",
            "Analysis time divided by video duration for finished jobs.",
            buckets=REALTIME_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(f"{PREFIX}_queue_depth", "Jobs waiting for a worker.", registry=r)
        self.busy_workers = Gauge(
            f"{PREFIX}_busy_workers", "Workers analysing a video right now.", registry=r
        )
        self.ready_workers = Gauge(
            f"{PREFIX}_ready_workers", "Workers with a loaded model (idle or busy).", registry=r
        )
        self.worker_restarts = Counter(
            f"{PREFIX}_worker_restarts",
            "Worker processes replaced, by reason (crashed, hung, timeout, load_failed).",
            ["reason"],
            registry=r,
        )

        self.queue_wait = Histogram(
            f"{PREFIX}_job_queue_wait_seconds",
            "Time a job waited in the queue before a worker took it.",
            buckets=QUEUE_WAIT_BUCKETS,
            registry=r,
        )
        self.build_info = Gauge(
            f"{PREFIX}_build_info",
            "Always 1; the labels say which release, backend and model serve.",
            ["version", "backend", "analyzer", "model", "quantization"],
            registry=r,
        )
        r.register(GpuCollector())
        r.register(HeapCollector())
        # process_resident_memory_bytes, process_cpu_seconds_total, open fds ... of the front
        ProcessCollector(registry=r)

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
