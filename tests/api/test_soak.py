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
    half = ROUNDS // 2
    early, late = rss_mb[half] - rss_mb[0], rss_mb[-1] - rss_mb[half]
    # Levelling off: the second half grows far less than the first (or hardly at all).
    assert late < max(1.0, 0.5 * early), rss_mb
