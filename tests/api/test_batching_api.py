"""Cross-video batching in a real worker: queued videos share model calls and all finish."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.serverproc import ServerProcess, hanging, submit, wait_final

pytestmark = pytest.mark.slow


def test_queued_videos_share_model_calls(
    tmp_path: Path, tiny_model_dir: Path, tiny_video: Path
) -> None:
    srv = ServerProcess(tmp_path / "srv", tiny_model_dir, workers=1, batch_videos=3, **hanging(1.5))
    with srv.running(), srv.client() as client:
        ids = [submit(client, tiny_video, frames=1) for _ in range(5)]
        finals = [wait_final(client, job_id, timeout=120) for job_id in ids]
    assert [f["status"] for f in finals] == ["done"] * 5
    log = srv.log_file.read_text()
    # While the first video is on the model the others are decoded; they then go together.
    assert any(f"{n} video(s) per model call" in log for n in (2, 3)), log[-3000:]
