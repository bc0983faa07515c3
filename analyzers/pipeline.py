"""One video in, one AnalysisResult out: sampling, then the analyzer, then aggregation.

Split in two steps so a worker can run ``prepare`` (CPU: decode, preprocess)
for the next video while ``describe_prepared`` (model) runs the current one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzers.answers import aggregate_aspects, summarize
from analyzers.base import Analyzer, ProgressCallback
from analyzers.options import AnalysisOptions
from analyzers.sampling import sample_frames
from analyzers.schema import AnalysisResult, FrameDescription, ModelInfo, Timings, VideoInfo


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
    started = time.perf_counter()
    sampled = sample_frames(
        path,
        num_frames=options.frames,
        max_frames=options.frames,
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
    # Video-level analyzers (video-llm) describe the whole video in one go and return the
    # summary and aspects themselves; frame analyzers (BLIP-2) return None and are aggregated.
    whole = analyzer.describe_video(
        prepared.model_input,
        prepared.aspects,
        prepared.timestamps,
        prepared.video.duration_s,
        progress,
    )
    if whole is None:
        captions = analyzer.describe(prepared.model_input, prepared.aspects, progress)
    else:
        captions = whole.frames
    inference_s = time.perf_counter() - started
    frames = [
        FrameDescription(timestamp_s=round(ts, 3), caption=fc.caption, aspects=fc.aspects)
        for ts, fc in zip(prepared.timestamps, captions, strict=True)
    ]
    aspects = aggregate_aspects(frames, prepared.aspects) if whole is None else whole.aspects
    total_s = prepared.decode_s + inference_s
    duration = prepared.video.duration_s
    return AnalysisResult(
        video=prepared.video,
        model=model_info,
        frames=frames,
        aspects=aspects,
        summary=summarize(frames, aspects) if whole is None else whole.summary,
        timings=Timings(
            decode_s=round(prepared.decode_s, 3),
            inference_s=round(inference_s, 3),
            total_s=round(total_s, 3),
            realtime_factor=round(total_s / duration, 4) if duration > 0 else 0.0,
        ),
        warnings=prepared.warnings + ([] if whole is None else whole.warnings),
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
