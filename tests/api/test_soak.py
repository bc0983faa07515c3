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
    # Measured alone, the front levels off (under 1 KB per job after the first half, and no
    # Python object kept per job between rounds under tracemalloc). Inside the whole suite,
    # with other servers and a Ray cluster loading the machine, the second half still grew
    # about 12 KB per job and the cause is not found yet (issue 8 stays open for it). This
    # bound only catches a gross leak (a result is 6 KB as Python objects).
    half = ROUNDS // 2
    late_kb_per_job = (rss_mb[-1] - rss_mb[half]) * 1024 / (JOBS_PER_ROUND * (ROUNDS - half))
    assert late_kb_per_job < 30.0, rss_mb
