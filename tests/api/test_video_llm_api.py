"""The HTTP API with the video-llm analyzer: each tiny family served by a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzers.testing.tiny_model import make_tiny_model
from tests.support.serverproc import ServerProcess, post_video

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", ["qwen2-vl", "llava-onevision", "llava"])
def test_each_video_llm_family_serves_the_same_result_schema(
    kind: str, tmp_path: Path, tiny_video: Path
) -> None:
    model = make_tiny_model(kind, tmp_path / kind)
    srv = ServerProcess(
        tmp_path / "srv",
        model,
        analyzer="video-llm",
        workers=1,
        sampling="uniform",
        ocr="false",
        transcribe="false",
    )
    with srv.running(), srv.client() as client:
        health = srv.health()[1]
        assert health["model"]["analyzer"] == "video-llm" and health["model"]["experimental"]
        response = post_video(client, tiny_video, frames=2, aspects="scene,mood")
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["model"]["analyzer"] == "video-llm" and result["model"]["experimental"]
    assert set(result["aspects"]) == {"scene", "mood"}
    assert len(result["frames"]) == 2 and result["summary"]
    assert any(w.startswith("random-weight test model") for w in result["warnings"])
