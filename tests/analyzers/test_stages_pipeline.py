"""The whole pipeline with every stage: tiny BLIP-2, Whisper tiny.en, Tesseract, decoders."""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from analyzers.base import AnalyzerConfig
from analyzers.models.blip2.analyzer import Blip2Analyzer
from analyzers.options import AnalysisOptions
from analyzers.pipeline import PreparedVideo, describe_prepared, prepare
from analyzers.schema import AnalysisResult, ModelInfo
from analyzers.stages import Stages, StagesConfig
from analyzers.testing.speech_clips import word_error_rate
from analyzers.testing.story_clips import FONTS, Overlay, Speech, make_story_video
from api.settings import Settings

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or not Path("/usr/share/tesseract-ocr").exists(),
    reason="needs espeak-ng and tesseract-ocr",
)

CUTS = (2.0, 4.0)
FRAMES = 8


@pytest.fixture(scope="module")
def analyzer(tiny_model_dir: Path) -> tuple[Blip2Analyzer, ModelInfo]:
    blip2 = Blip2Analyzer(
        AnalyzerConfig(model=str(tiny_model_dir), quantization="fp32", device="cpu")
    )
    return blip2, blip2.load()


@pytest.fixture(scope="module")
def config(tiny_whisper_dir: Path) -> StagesConfig:
    return StagesConfig(
        sampling="shots",
        ocr=True,
        ocr_langs="eng",
        transcribe=True,
        asr_model=str(tiny_whisper_dir),
        keyframes=True,
        device="cpu",
        quantization="fp32",
        # The exact words below are Tesseract's; RapidOCR may drop a space ("FOR MORE").
        ocr_engine="tesseract",
    )


@pytest.fixture(scope="module")
def stages(config: StagesConfig) -> Stages:
    return Stages.load(config)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = make_story_video(
        tmp_path_factory.mktemp("pipeline") / "story.mp4",
        width=360,
        height=640,
        duration_s=6.0,
        cuts=CUTS,
        overlays=[
            Overlay("FOLLOW FOR MORE", 0.0, 2.0, size=40),
            Overlay("Best pasta ever", 4.0, 6.0, size=40, font=FONTS[1], fill=(255, 220, 0)),
        ],
        speech=[Speech("hello and welcome", 0.5), Speech("today we cook pasta", 4.2)],
    )
    return path


@pytest.fixture(scope="module")
def options() -> AnalysisOptions:
    return Settings().analysis_options(frames=FRAMES, aspects="scene,text")


@pytest.fixture(scope="module")
def run(
    video: Path,
    analyzer: tuple[Blip2Analyzer, ModelInfo],
    stages: Stages,
    options: AnalysisOptions,
) -> tuple[PreparedVideo, AnalysisResult]:
    prepared = prepare(video, analyzer[0], options, stages)
    return prepared, describe_prepared(prepared, analyzer[0], analyzer[1], None, stages)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def test_shots_and_a_frame_in_each(run: tuple[PreparedVideo, AnalysisResult]) -> None:
    _, result = run
    assert result.shots is not None
    assert [s.start_s for s in result.shots[1:]] == pytest.approx(CUTS, abs=2 / 30)
    assert len(result.frames) <= FRAMES
    assert {f.shot for f in result.frames} == {0, 1, 2}
    for frame in result.frames:
        shot = result.shots[frame.shot or 0]
        assert shot.start_s <= frame.timestamp_s < shot.end_s


def test_on_screen_text_is_read_and_preferred_in_the_summary(
    run: tuple[PreparedVideo, AnalysisResult],
) -> None:
    _, result = run
    assert result.text_overlays is not None
    assert [_words(o.text) for o in result.text_overlays] == [
        ["follow", "for", "more"],
        ["best", "pasta", "ever"],
    ]
    assert result.text_overlays[0].end_s < 2.0 <= 4.0 <= result.text_overlays[1].start_s
    assert "FOLLOW FOR MORE" in result.summary and "Cut into 3 shots" in result.summary
    # BLIP-2's guess at the text stays among the aspects, but the summary quotes OCR.
    assert "text" in result.aspects and 'On-screen text: "' in result.summary


def test_transcript_and_its_warning(run: tuple[PreparedVideo, AnalysisResult]) -> None:
    _, result = run
    assert result.transcript is not None and result.transcript.segments
    assert all(0 <= s.start_s <= s.end_s <= 6.1 for s in result.transcript.segments)
    said = "hello and welcome today we cook pasta"
    assert word_error_rate(said, result.transcript.text) <= 0.3, result.transcript.text
    assert not any("speech" in w for w in result.warnings)
    assert "Speech (" in result.summary
    assert {"shots", "ocr", "keyframes", "audio", "speech"} <= set(result.timings.stages_s)


def test_one_keyframe_jpeg_per_frame(run: tuple[PreparedVideo, AnalysisResult]) -> None:
    prepared, result = run
    assert len(prepared.keyframes) == len(result.frames)
    for jpeg in prepared.keyframes:
        assert jpeg is not None
        image = Image.open(io.BytesIO(jpeg))
        assert image.format == "JPEG" and image.size == (202, 360)


def test_without_stages_nothing_changes(
    video: Path, analyzer: tuple[Blip2Analyzer, ModelInfo], options: AnalysisOptions
) -> None:
    prepared = prepare(video, analyzer[0], options)
    result = describe_prepared(prepared, analyzer[0], analyzer[1])
    assert (result.shots, result.text_overlays, result.transcript) == (None, None, None)
    assert prepared.keyframes == [] and all(f.shot is None for f in result.frames)
    assert len(result.frames) == FRAMES and result.timings.stages_s == {}


def test_stages_that_cannot_load_leave_nulls_and_warnings(
    video: Path,
    analyzer: tuple[Blip2Analyzer, ModelInfo],
    config: StagesConfig,
    options: AnalysisOptions,
    tmp_path: Path,
) -> None:
    broken = replace(
        config,
        sampling="uniform",
        ocr_langs="xyz",
        asr_model=str(tmp_path / "none"),
        keyframes=False,
    )
    stages = Stages.load(broken)
    prepared = prepare(video, analyzer[0], options, stages)
    result = describe_prepared(prepared, analyzer[0], analyzer[1], None, stages)
    assert (result.shots, result.text_overlays, result.transcript) == (None, None, None)
    assert any("OCR" in w for w in result.warnings)
    assert any("speech transcription is off" in w for w in result.warnings)
    assert len(result.frames) == FRAMES


def test_video_without_audio(
    analyzer: tuple[Blip2Analyzer, ModelInfo],
    stages: Stages,
    options: AnalysisOptions,
    tmp_path: Path,
) -> None:
    path, _ = make_story_video(tmp_path / "mute.mp4", width=160, height=288, duration_s=2.0)
    prepared = prepare(path, analyzer[0], options, stages)
    result = describe_prepared(prepared, analyzer[0], analyzer[1], None, stages)
    assert result.transcript is None and result.shots is not None and len(result.shots) == 1
    assert result.text_overlays == [] and "No audio track." in result.summary
    assert "No on-screen text was read." in result.summary


def test_metrics_of_a_clip_with_known_cuts_speech_and_text(
    run: tuple[PreparedVideo, AnalysisResult],
) -> None:
    _, result = run
    metrics = result.metrics
    assert metrics is not None
    assert metrics.cuts_per_minute == pytest.approx(2 * 60 / 6.0, abs=0.5)
    assert metrics.first_cut_s == pytest.approx(CUTS[0], abs=2 / 30)
    assert metrics.mean_shot_s == pytest.approx(2.0, abs=0.05)
    assert metrics.first_word_s == pytest.approx(0.5, abs=0.4)
    assert 0.2 < (metrics.speech_share or 0) < 0.9 and (metrics.words_per_minute or 0) > 60
    assert metrics.music_share is not None and metrics.music_share < 0.2  # speech, silence
    assert metrics.text_share is not None and 0.3 < metrics.text_share < 1.0
    assert metrics.loudness_lufs is not None and -40 < metrics.loudness_lufs < -10
    assert metrics.motion is not None and metrics.motion > 0
    assert metrics.hook.cuts == 1 and "FOLLOW" in (metrics.hook.text or "")
    assert "hello" in (metrics.hook.words or "").lower()


def test_the_result_is_searchable_in_the_library(
    run: tuple[PreparedVideo, AnalysisResult], tmp_path: Path
) -> None:
    """The real words and text of this analysis, found by the library's FTS5 search."""
    from api.jobs.store import JobStore
    from api.library.search import search
    from tests.support.library_results import add_done_job

    _, result = run
    store = JobStore(tmp_path / "jobs.sqlite3", Settings().analysis_options()).open()
    add_done_job(store, "story", result.model_dump(mode="json"))
    spoken = store.read(lambda c: search(c, "pasta", kind="speech", limit=5, after=None))
    [said] = spoken.hits
    assert said.start_s is not None and 4.0 <= said.start_s <= 5.0  # "today we cook pasta" at 4.2 s
    shown = store.read(lambda c: search(c, '"best pasta"', kind="text", limit=5, after=None))
    [text] = shown.hits
    assert text.start_s is not None and text.start_s >= 4.0
    assert [text.text[s:e].lower() for s, e in text.highlights] == ["best pasta"]
    prefix = store.read(lambda c: search(c, "foll*", kind=None, limit=5, after=None))
    assert {h.kind for h in prefix.hits} >= {"text", "summary"}
