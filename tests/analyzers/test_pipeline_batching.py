"""Cross-video batching: several prepared videos through one set of model calls, same results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from analyzers.base import AnalyzerConfig
from analyzers.models.blip2.analyzer import Blip2Analyzer
from analyzers.pipeline import describe_prepared, describe_prepared_many, prepare
from analyzers.registry import create_analyzer
from analyzers.testing.clips import make_video
from api.settings import Settings


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("batching")
    return [
        make_video(root / f"v{i}.mp4", width=96 + 32 * i, height=160, duration_s=2 + i, fps=10)
        for i in range(3)
    ]


def test_batched_results_equal_one_at_a_time_in_fp32(
    tiny_model_dir: Path, videos: list[Path]
) -> None:
    config = AnalyzerConfig(
        model=str(tiny_model_dir), quantization="fp32", device="cpu", batch_size=7
    )
    analyzer = create_analyzer("blip2", config)
    info = analyzer.load()
    settings = Settings()
    # Different frame counts and aspects per video: rows of all of them share generate() calls.
    options = [
        settings.analysis_options(2, "scene,mood"),
        settings.analysis_options(3, "people"),
        settings.analysis_options(1, None),
    ]
    prepared = [prepare(v, analyzer, o) for v, o in zip(videos, options, strict=True)]
    alone = [describe_prepared(p, analyzer, info) for p in prepared]
    seen: list[tuple[int, int]] = []
    together = describe_prepared_many(prepared, analyzer, info, lambda d, t: seen.append((d, t)))
    for one, batched in zip(alone, together, strict=True):
        assert batched.frames == one.frames
        assert batched.aspects == one.aspects
        assert batched.summary == one.summary
    assert seen and seen[-1][0] == seen[-1][1] == 6  # progress counts the frames of all


def test_a_warning_of_the_shared_calls_reaches_every_video(
    tiny_model_dir: Path, videos: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = AnalyzerConfig(
        model=str(tiny_model_dir), quantization="fp32", device="cpu", batch_size=8
    )
    analyzer = Blip2Analyzer(config)
    info = analyzer.load()
    language_model = analyzer.loaded.model.language_model
    real_generate = language_model.generate

    def small_gpu(*args: Any, **kwargs: Any) -> Any:
        # A device that holds 3 rows per generate(): 8 fails, 4 fails, 2 fits.
        if kwargs["inputs_embeds"].shape[0] > 3:
            raise torch.OutOfMemoryError("test: more than 3 rows")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(language_model, "generate", small_gpu)
    options = Settings().analysis_options(2, "scene")
    prepared = [prepare(v, analyzer, options) for v in videos]
    results = describe_prepared_many(prepared, analyzer, info)
    halved = (
        "out of memory at batch size 8: the frames were described with batch size 2; "
        "lower TIKTOK_ANALYZER_BATCH_SIZE to 2 to avoid the retries"
    )
    assert [halved in r.warnings for r in results] == [True, True, True]
    assert analyzer.take_warnings() == []


def test_seek_keyframe_reaches_the_sampler(tiny_model_dir: Path, videos: list[Path]) -> None:
    config = AnalyzerConfig(model=str(tiny_model_dir), quantization="fp32", device="cpu")
    analyzer = create_analyzer("blip2", config)
    analyzer.load()
    exact = prepare(videos[2], analyzer, Settings(seek="exact").analysis_options(3, "scene"))
    keyframe = prepare(videos[2], analyzer, Settings(seek="keyframe").analysis_options(3, "scene"))
    assert len(exact.timestamps) == 3
    # Keyframe mode reports the keyframes' own times: not the exact targets.
    assert keyframe.timestamps != exact.timestamps
