"""`tiktok-analyzer` with TIKTOK_ANALYZER_ANALYZER=video-llm, run as a user runs it, per family."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from analyzers.schema import AnalysisResult
from analyzers.testing.tiny_model import make_tiny_model

SCRIPT = Path(sys.executable).with_name("tiktok-analyzer")
CLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "api.cli"]
KINDS = ("qwen2-vl", "llava-onevision", "llava")


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        # Only the analyzer is under test: the other stages would only add start-up time.
        "TIKTOK_ANALYZER_OCR": "false",
        "TIKTOK_ANALYZER_TRANSCRIBE": "false",
        **env,
    }
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=300, env=full_env, check=False
    )


def _result(stdout: str, video: Path) -> AnalysisResult:
    """The one line --json prints for one video: exactly {"file": ..., "result": ...}."""
    (line,) = stdout.splitlines()
    data: Any = json.loads(line)
    assert isinstance(data, dict) and set(data) == {"file", "result"}, line[:200]
    assert data["file"] == str(video)
    return AnalysisResult.model_validate(data["result"])


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-video-llms-cli")
    return {kind: make_tiny_model(kind, root / kind) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_analyze_with_the_video_llm_setting(
    model_dirs: dict[str, Path], short_video: Path, kind: str
) -> None:
    proc = _run(
        "analyze", str(short_video), "--model", str(model_dirs[kind]),
        "--quantization", "fp32", "--frames", "3", "--aspects", "scene,mood", "--json",
        TIKTOK_ANALYZER_ANALYZER="video-llm", TIKTOK_ANALYZER_MAX_NEW_TOKENS="6",
        TIKTOK_ANALYZER_TOKEN_MERGE_RATIO="0.5",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = _result(proc.stdout, short_video)
    assert result.model.analyzer == "video-llm"
    assert result.model.experimental and result.model.test_model
    assert list(result.aspects) == ["scene", "mood"]
    assert all(
        a[0].time_ranges == [(0.0, result.video.duration_s)] for a in result.aspects.values()
    )
    assert len(result.frames) == 3 and result.summary
    assert any("meaningless" in w for w in result.warnings)
    assert "Traceback" not in proc.stderr
