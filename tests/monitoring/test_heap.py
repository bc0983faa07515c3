"""The heap gauge follows what malloc really holds, so a leak shows on /metrics."""

from __future__ import annotations

import gc

import pytest

from monitoring.heap import malloc_in_use_bytes
from monitoring.metrics import ServiceMetrics


def test_heap_in_use_follows_an_allocation_and_its_release() -> None:
    before = malloc_in_use_bytes()
    if before is None:
        pytest.skip("this C library cannot report its heap (needs glibc 2.33 or later)")
    block = bytearray(8 * 2**20)
    held = malloc_in_use_bytes()
    del block
    gc.collect()
    after = malloc_in_use_bytes()
    assert held is not None and after is not None
    assert held - before >= 8 * 2**20
    assert held - after >= 8 * 2**20


def test_metrics_show_the_heap_and_the_process() -> None:
    text = ServiceMetrics().render().decode()
    names = {line.split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    assert "process_resident_memory_bytes" in names
    if malloc_in_use_bytes() is not None:
        assert "tiktok_analyzer_heap_in_use_bytes" in names
