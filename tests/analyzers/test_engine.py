"""The engine the worker and the CLI share: loaded once, one open of the file per analysis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from analyzers.base import AnalyzerConfig
from analyzers.engine import Engine
from analyzers.media.probe import probe_video
from analyzers.stages import StagesConfig
from analyzers.testing.story_clips import make_story_video
from api.settings import Settings

CUTS = (1.5, 3.0)


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> Iterator[Engine]:
    loaded = Engine.load(
        "blip2",
        AnalyzerConfig(model=str(tiny_model_dir), quantization="fp32", device="cpu"),
        StagesConfig(
            sampling="shots",
            ocr=False,
            ocr_langs="eng",
            transcribe=False,
            asr_model="",
            keyframes=True,
            device="cpu",
            quantization="fp32",
        ),
    )
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = make_story_video(
        tmp_path_factory.mktemp("engine") / "cuts.mp4",
        width=180,
        height=320,
        duration_s=4.5,
        cuts=CUTS,
    )
    return path


def test_with_the_intake_probe_the_file_is_opened_once(
    engine: Engine, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = probe_video(video)  # what intake did, in the front
    opened: list[str] = []
    real = av.open

    def spy(*args: Any, **kwargs: Any) -> Any:
        opened.append(str(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(av, "open", spy)
    options = Settings().analysis_options(frames=6, aspects="scene")
    prepared = engine.prepare(video, options, probe=probe)
    assert opened == [str(video)]
    result = engine.describe(prepared)
    assert result.shots is not None
    assert [s.start_s for s in result.shots[1:]] == pytest.approx(CUTS, abs=2 / 30)
    assert {frame.shot for frame in result.frames} == {0, 1, 2}  # a frame in every shot
    assert len(prepared.keyframes) == len(result.frames) == 6
    assert {"shots", "keyframes"} <= set(result.timings.stages_s)
    assert result.timings.decode_s > 0


def test_without_a_probe_the_engine_probes_itself(engine: Engine, video: Path) -> None:
    options = Settings().analysis_options(frames=4, aspects="scene")
    prepared = engine.prepare(video, options)
    assert prepared.video.duration_s == pytest.approx(4.5, abs=0.05)
    assert len(prepared.timestamps) == 4
