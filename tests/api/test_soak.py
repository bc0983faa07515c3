"""A bounded soak: many small jobs through a real server; the front's memory levels off."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from tests.api.serverproc import ServerProcess, post_video

pytestmark = pytest.mark.slow

ROUNDS = 8
JOBS_PER_ROUND = 120
CLIENTS = 3


def test_front_memory_levels_off(tmp_path: Path, tiny_model_dir: Path, tiny_video: Path) -> None:
    srv = ServerProcess(
        tmp_path / "srv",
        tiny_model_dir,
        frames=1,
        sampling="uniform",
        ocr="false",
        transcribe="false",
        keyframes="false",
        log_level="WARNING",
    )
    with srv.running(), srv.client() as client:
        front = psutil.Process(srv.pid)

        def one(_: int) -> int:
            return post_video(client, tiny_video, frames=1, aspects="scene").status_code

        rss_mb: list[float] = []
        for _ in range(ROUNDS):
            with ThreadPoolExecutor(CLIENTS) as pool:
                codes = list(pool.map(one, range(JOBS_PER_ROUND)))
            assert set(codes) == {200}
            rss_mb.append(front.memory_info().rss / 2**20)
    # The first rounds fill SQLite's page cache (bounded) and malloc's arenas; no Python
    # object is kept per job (tracemalloc between rounds shows no growth), so RSS levels off.
    # After the first half, what the process still adds comes in steps (a malloc arena, a
    # thread stack) that depend on the machine's load, not on the jobs: a few MB at most.
    # Keeping anything per job (a result is several KB as Python objects) shows as a
    # steady climb well above this bound.
    half = ROUNDS // 2
    late_kb_per_job = (rss_mb[-1] - rss_mb[half]) * 1024 / (JOBS_PER_ROUND * (ROUNDS - half))
    assert late_kb_per_job < 8.0, rss_mb
