"""One video in, one AnalysisResult out: sampling, then the analyzer, then aggregation.

Split in two steps so a worker can run ``prepare`` (CPU: decode, preprocess)
for the next video while ``describe_prepared`` (model) runs the current one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzers.answers import aggregate_aspects, summarize
from analyzers.base import Analyzer, ProgressCallback
from analyzers.errors import InvalidOptionError
from analyzers.prompts import DEFAULT_ASPECTS, resolve_aspects
from analyzers.sampling import Decoder, sample_frames
from analyzers.schema import AnalysisResult, FrameDescription, ModelInfo, Timings, VideoInfo


@dataclass(frozen=True)
class AnalysisOptions:
    """Per-video choices; the defaults come from the settings."""

    frames: int = 16
    aspects: tuple[str, ...] = DEFAULT_ASPECTS
    max_frames: int = 64
    max_duration_s: float = 600.0
    decode_timeout_s: float = 120.0
    decoder: Decoder = "auto"

    def validated(self) -> AnalysisOptions:
        if not 1 <= self.frames <= self.max_frames:
            raise InvalidOptionError(
                f"frames must be between 1 and {self.max_frames}, got {self.frames}"
            )
        return AnalysisOptions(
            frames=self.frames,
            aspects=resolve_aspects(self.aspects),
            max_frames=self.max_frames,
            max_duration_s=self.max_duration_s,
            decode_timeout_s=self.decode_timeout_s,
            decoder=self.decoder,
        )


@dataclass
class PreparedVideo:
    """Frames decoded and preprocessed, ready for the model."""

    video: VideoInfo
    timestamps: list[float]
    model_input: Any
    aspects: tuple[str, ...]
    decode_s: float
    warnings: list[str] = field(default_factory=list)


def prepare(path: str | Path, analyzer: Analyzer, options: AnalysisOptions) -> PreparedVideo:
    """Probe, sample and preprocess; CPU only, safe to run beside the model."""
    options = options.validated()
    started = time.perf_counter()
    sampled = sample_frames(
        path,
        num_frames=options.frames,
        max_frames=options.max_frames,
        size=analyzer.input_size,
        max_duration_s=options.max_duration_s,
        timeout_s=options.decode_timeout_s,
        decoder=options.decoder,
    )
    model_input = analyzer.preprocess(sampled.images)
    return PreparedVideo(
        video=sampled.video,
        timestamps=sampled.timestamps,
        model_input=model_input,
        aspects=options.aspects,
        decode_s=time.perf_counter() - started,
        warnings=list(sampled.warnings),
    )


def describe_prepared(
    prepared: PreparedVideo,
    analyzer: Analyzer,
    model_info: ModelInfo,
    progress: ProgressCallback | None = None,
) -> AnalysisResult:
    """Run the model on prepared frames and build the full result."""
    started = time.perf_counter()
    captions = analyzer.describe(prepared.model_input, prepared.aspects, progress)
    inference_s = time.perf_counter() - started
    frames = [
        FrameDescription(timestamp_s=round(ts, 3), caption=fc.caption, aspects=fc.aspects)
        for ts, fc in zip(prepared.timestamps, captions, strict=True)
    ]
    aspects = aggregate_aspects(frames, prepared.aspects)
    total_s = prepared.decode_s + inference_s
    duration = prepared.video.duration_s
    return AnalysisResult(
        video=prepared.video,
        model=model_info,
        frames=frames,
        aspects=aspects,
        summary=summarize(frames, aspects),
        timings=Timings(
            decode_s=round(prepared.decode_s, 3),
            inference_s=round(inference_s, 3),
            total_s=round(total_s, 3),
            realtime_factor=round(total_s / duration, 4) if duration > 0 else 0.0,
        ),
        warnings=prepared.warnings,
    )


def analyze_video(
    path: str | Path,
    analyzer: Analyzer,
    model_info: ModelInfo,
    options: AnalysisOptions,
    progress: ProgressCallback | None = None,
) -> AnalysisResult:
    """The whole analysis of one file, in this process."""
    return describe_prepared(prepare(path, analyzer, options), analyzer, model_info, progress)


def parse_aspects(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """'scene,mood' or ['scene', 'mood'] -> validated tuple; None -> every default aspect."""
    if text is None:
        return DEFAULT_ASPECTS
    items = text.split(",") if isinstance(text, str) else list(text)
    return resolve_aspects(tuple(s.strip() for s in items if s.strip()))
