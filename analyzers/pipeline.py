"""One video in, one AnalysisResult out: sampling, then the analyzer, then aggregation.

Split in two steps so a worker can run ``prepare`` (CPU: decode, preprocess)
for the next video while ``describe_prepared`` (model) runs the current one.
With :class:`analyzers.stages.Stages` given, ``prepare`` also finds the shots
(and samples at least one frame in each), reads on-screen text, encodes the
keyframe JPEGs and decodes the audio; ``describe_prepared`` adds Whisper. When shots
or audio are wanted, one pass over one open file (analyzers.media.single_pass) gives the
shots, the sampled frames and the audio; a probe handed in (the job's) is not redone.

Keyframes contract: ``prepared.keyframes[i]`` is the JPEG of ``result.frames[i]``
(None where it could not be encoded); the caller stores them and fills
``frames[i].image`` with where it put them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from analyzers.answers import StageFindings, aggregate_aspects, summarize
from analyzers.base import Analyzer, FrameCaption, ProgressCallback
from analyzers.errors import VideoTooLongError
from analyzers.media.probe import probe_video
from analyzers.media.sampling import sample_frames, target_times
from analyzers.media.single_pass import PassRequest, frame_table, grid, read_within, sample_kept
from analyzers.options import AnalysisOptions
from analyzers.output.metrics import MetricInputs, SoundMeasures, video_metrics
from analyzers.schema import (
    AnalysisResult,
    FrameDescription,
    ModelInfo,
    Shot,
    TextOverlay,
    Timings,
    VideoInfo,
)
from analyzers.stages.keyframes import KEYFRAME_HEIGHT, keyframe_jpegs
from analyzers.stages.ocr import OCR_LONG_SIDE
from analyzers.stages.shots import CutDetector, shot_times, shots_from_cuts

if TYPE_CHECKING:
    from analyzers.stages import Stages
    from analyzers.stages.fingerprints import Fingerprints
    from analyzers.stages.speech import AudioTrack


#: frames kept per sampled frame in a shot-aware pass: shot-aware times fall between them
GRID_PER_FRAME = 8
#: memory the frames kept during a pass may take (the grid thins out for large videos)
KEPT_FRAMES_BYTES = 256 * 1024 * 1024

TEST_MODEL_PREFIX = "random-weight test model"
TEST_MODEL_WARNING = (
    f"{TEST_MODEL_PREFIX}: its captions and answers are meaningless text; "
    "point TIKTOK_ANALYZER_MODEL / --model at a real model for real descriptions"
)


@dataclass
class PreparedVideo:
    """Frames decoded and preprocessed, ready for the model, with the stages' CPU work done."""

    video: VideoInfo
    timestamps: list[float]
    model_input: Any
    aspects: tuple[str, ...]
    decode_s: float
    warnings: list[str] = field(default_factory=list)
    #: None when shot detection did not run
    shots: list[Shot] | None = None
    text_overlays: list[TextOverlay] | None = None
    #: the audio for Whisper; None without transcription or without an audio stream
    audio: AudioTrack | None = None
    #: one JPEG per sampled frame (None where encoding failed); empty without keyframes
    keyframes: list[bytes | None] = field(default_factory=list)
    #: seconds per stage (shots, ocr, keyframes, audio) inside decode_s
    stages_s: dict[str, float] = field(default_factory=dict)
    #: whether transcription was on and loaded: a null transcript then means "no speech"
    speech_checked: bool = False
    #: the cut detector's mean change score; None unless it ran in the one decode pass
    motion: float | None = None
    #: loudness, speech and music seconds; None without decoded audio
    sound: SoundMeasures | None = None
    #: for the library's same_sound / same_video (travel beside the result, not in it)
    fingerprints: Fingerprints | None = None


def _frame_size(
    video: VideoInfo, model_size: tuple[int, int] | None, stages: Stages
) -> tuple[int, int] | None:
    """(width, height) to decode at: the model's, or more when OCR or keyframes need it."""
    if model_size is None or not stages.wants_large_frames:
        return model_size
    width, height = video.width, video.height
    if stages.ocr is not None:
        scale = min(1.0, OCR_LONG_SIDE / max(width, height, 1))
    else:
        scale = min(1.0, max(KEYFRAME_HEIGHT, model_size[1]) / max(height, 1))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def prepare(
    path: str | Path,
    analyzer: Analyzer,
    options: AnalysisOptions,
    stages: Stages | None = None,
    threads: int | None = None,
    probe: VideoInfo | None = None,
) -> PreparedVideo:
    """Probe, sample and preprocess (plus the stages' CPU work); safe to run beside the model.

    ``threads``: decoder threads (None: the sampler chooses per file). ``probe``: the file's
    VideoInfo when the caller has it already (the job's, read at intake): not read again."""
    started = time.perf_counter()
    if stages is not None and one_pass_serves(options, stages):
        probe = probe if probe is not None else probe_video(path)
    if stages is not None and probe is not None and _one_pass_fits(options, stages, probe):
        prepared = _prepare_in_one_pass(path, analyzer, options, stages, threads, probe)
    else:
        prepared = _prepare_in_steps(path, analyzer, options, stages, threads, probe)
    prepared.decode_s = time.perf_counter() - started
    return prepared


def one_pass_serves(options: AnalysisOptions, stages: Stages) -> bool:
    """True when shots or audio need every frame or packet decoded: then one pass does all."""
    # Without them the sampler's planned seeks decode far less; decord (chosen on purpose)
    # and keyframe seeking keep their own readers.
    wanted = stages.wants_shots or stages.transcriber is not None
    return wanted and options.decoder != "decord" and options.seek == "exact"


def _one_pass_fits(options: AnalysisOptions, stages: Stages, probe: VideoInfo) -> bool:
    # A header without a duration (raw .h264) leaves nothing to spread the kept frames over.
    return one_pass_serves(options, stages) and probe.duration_s > 0


def _prepare_in_one_pass(
    path: str | Path,
    analyzer: Analyzer,
    options: AnalysisOptions,
    stages: Stages,
    threads: int | None,
    info: VideoInfo,
) -> PreparedVideo:
    """Shots, sampled frames and the audio from one open container and one decode pass."""
    if info.duration_s > options.max_duration_s:
        raise VideoTooLongError(
            f"the video is {info.duration_s:.1f} s long; the limit is {options.max_duration_s:g} s"
        )
    size = _frame_size(info, analyzer.input_size, stages)
    request = _pass_request(info, size, options, stages, threads)
    found = read_within(path, request, options.decode_timeout_s)
    shots = None
    if stages.wants_shots and found.times:
        shots = shots_from_cuts(found.cuts, found.times, found.video.duration_s)
        targets = shot_times(shots, options.frames)
    else:
        targets = target_times(frame_table(found).span_s, options.frames)
    sampled = sample_kept(found, targets, uniform=shots is None)
    stages_s = {"shots": round(found.shots_s, 3)}  # 0 with uniform sampling, as before
    prepared = PreparedVideo(
        video=sampled.video,
        timestamps=sampled.timestamps,
        model_input=analyzer.preprocess(sampled.images),
        aspects=options.aspects,
        decode_s=0.0,
        warnings=[*stages.load_warnings, *sampled.warnings],
        shots=shots,
        stages_s=stages_s,
        motion=found.motion,
    )
    if stages.transcriber is not None:
        prepared.audio = stages.audio_from(found.audio)
        prepared.speech_checked = True
    if found.audio is not None:
        stages_s["audio"] = round(found.audio_decode_s, 3)
    _run_cpu_stages(prepared, path, sampled.images, stages, found.audio)
    return prepared


def _pass_request(
    info: VideoInfo,
    size: tuple[int, int] | None,
    options: AnalysisOptions,
    stages: Stages,
    threads: int | None,
) -> PassRequest:
    """What the one pass keeps: frames at the uniform targets, or a grid dense enough for
    any shot-aware time (bounded by memory), and the audio when Whisper will hear it."""
    if stages.wants_shots:
        # Kept frames are decoded pictures at the stored size: about 1.5 bytes a pixel.
        affordable = KEPT_FRAMES_BYTES // max(1, info.width * info.height * 3 // 2)
        count = max(options.frames, min(affordable, GRID_PER_FRAME * options.frames))
        points = grid(info.duration_s, count)
    else:
        points = target_times(info.duration_s, options.frames)
    return PassRequest(
        cuts=CutDetector if stages.wants_shots else None,
        points=points,
        size=size,
        audio_s=info.duration_s if stages.wants_audio else None,
        threads=threads,
        max_duration_s=options.max_duration_s,
    )


def _prepare_in_steps(
    path: str | Path,
    analyzer: Analyzer,
    options: AnalysisOptions,
    stages: Stages | None,
    threads: int | None,
    probe: VideoInfo | None,
) -> PreparedVideo:
    """Shots (their own pass), then the sampler's planned decode, then the audio."""
    warnings: list[str] = []
    stages_s: dict[str, float] = {}
    size = analyzer.input_size
    shots: list[Shot] | None = None
    times: list[float] | None = None
    if stages is not None:
        warnings += stages.load_warnings
        info = probe if probe is not None else probe_video(path)
        size = _frame_size(info, size, stages)
        if info.duration_s <= options.max_duration_s:  # too long: sampling refuses it next
            began = time.perf_counter()
            shots, times, found = stages.find_shots(
                path, info.duration_s, options.frames, options.decode_timeout_s
            )
            warnings += found
            stages_s["shots"] = round(time.perf_counter() - began, 3)
    sampled = sample_frames(
        path,
        num_frames=options.frames,
        times=times,
        max_frames=options.frames,
        size=size,
        max_duration_s=options.max_duration_s,
        timeout_s=options.decode_timeout_s,
        decoder=options.decoder,
        seek=options.seek,
        threads=threads,
    )
    warnings += sampled.warnings
    model_input = analyzer.preprocess(sampled.images)
    prepared = PreparedVideo(
        video=sampled.video,
        timestamps=sampled.timestamps,
        model_input=model_input,
        aspects=options.aspects,
        decode_s=0.0,
        warnings=warnings,
        shots=shots,
        stages_s=stages_s,
    )
    if stages is not None:
        if stages.transcriber is not None:
            began = time.perf_counter()
            prepared.audio = stages.decode_audio(
                path, prepared.video.has_audio, prepared.video.duration_s
            )
            prepared.speech_checked = True
            stages_s["audio"] = round(time.perf_counter() - began, 3)
        samples = None if prepared.audio is None else prepared.audio.samples
        _run_cpu_stages(prepared, path, sampled.images, stages, samples)
    return prepared


def _run_cpu_stages(
    prepared: PreparedVideo,
    path: str | Path,
    images: list[Any],
    stages: Stages,
    samples: np.ndarray | None,
) -> None:
    """OCR, keyframe JPEGs, the sound's measures and the fingerprints: the stages' work on
    the sampled frames and the decoded audio that needs no model."""
    seconds = prepared.stages_s
    began = time.perf_counter()
    prepared.text_overlays, found = stages.read_text(images, prepared.timestamps)
    prepared.warnings += found
    if stages.ocr is not None:
        seconds["ocr"] = round(time.perf_counter() - began, 3)
    if stages.config.keyframes:
        began = time.perf_counter()
        prepared.keyframes, found = keyframe_jpegs(images)
        prepared.warnings += found
        seconds["keyframes"] = round(time.perf_counter() - began, 3)
    began = time.perf_counter()
    prepared.sound, found = stages.listen(samples, prepared.audio)
    prepared.fingerprints, more = stages.fingerprint(samples, images)
    prepared.warnings += found + more
    seconds["fingerprints"] = round(time.perf_counter() - began, 3)


def _shot_of(timestamp_s: float, shots: list[Shot] | None) -> int | None:
    if not shots:
        return None
    return max((s.index for s in shots if s.start_s <= timestamp_s + 1e-6), default=0)


def describe_prepared_many(
    videos: Sequence[PreparedVideo],
    analyzer: Analyzer,
    model_info: ModelInfo,
    progress: ProgressCallback | None = None,
    stages: Stages | None = None,
) -> list[AnalysisResult]:
    """Several prepared videos at once: a frame analyzer's frame x prompt rows of all of
    them share model calls (cross-video batching); each result is what describe_prepared
    gives for its video alone. Video-level analyzers take them one by one."""
    if len(videos) == 1 or type(analyzer).describe_video is not Analyzer.describe_video:
        return [describe_prepared(v, analyzer, model_info, progress, stages) for v in videos]
    started = time.perf_counter()
    captions = analyzer.describe_many([(v.model_input, v.aspects) for v in videos], progress)
    model_s = (time.perf_counter() - started) / len(videos)  # each carries its share
    # What the shared calls met (e.g. a batch halved after OOM) concerns every video in them.
    met = analyzer.take_warnings()
    return [
        describe_prepared(
            v, analyzer, model_info, None, stages, captions=c, model_s=model_s, met=met
        )
        for v, c in zip(videos, captions, strict=True)
    ]


def describe_prepared(
    prepared: PreparedVideo,
    analyzer: Analyzer,
    model_info: ModelInfo,
    progress: ProgressCallback | None = None,
    stages: Stages | None = None,
    *,
    captions: list[FrameCaption] | None = None,
    model_s: float = 0.0,
    met: Sequence[str] = (),
) -> AnalysisResult:
    """Run the model on prepared frames (and Whisper on the audio) and build the full result.

    ``captions`` (with the ``model_s`` they took and the analyzer warnings ``met`` on the way)
    come from a batch of several videos."""
    started = time.perf_counter() - model_s
    # Video-level analyzers (video-llm) describe the whole video in one go and return the
    # summary and aspects themselves; frame analyzers (BLIP-2) return None and are aggregated.
    whole = None
    if captions is None:
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
        # take_warnings: what the analyzer met while describing (e.g. a batch halved after OOM).
        met = analyzer.take_warnings()
    warnings = [*prepared.warnings, *([] if whole is None else whole.warnings), *met]
    if model_info.test_model and not any(w.startswith(TEST_MODEL_PREFIX) for w in warnings):
        # A demo user reads the result, not the server log.
        warnings.insert(0, TEST_MODEL_WARNING)
    stages_s = dict(prepared.stages_s)
    transcript = None
    # Whisper runs only with the stages given here too; otherwise no word on speech at all.
    speech_checked = stages is not None and prepared.speech_checked
    if stages is not None and speech_checked:
        began = time.perf_counter()
        transcript, found = stages.transcribe(prepared.audio)
        warnings = warnings + found
        stages_s["speech"] = round(time.perf_counter() - began, 3)
    inference_s = time.perf_counter() - started
    frames = [
        FrameDescription(
            timestamp_s=round(ts, 3),
            caption=fc.caption,
            aspects=fc.aspects,
            shot=_shot_of(ts, prepared.shots),
        )
        for ts, fc in zip(prepared.timestamps, captions, strict=True)
    ]
    aspects = aggregate_aspects(frames, prepared.aspects) if whole is None else whole.aspects
    findings = StageFindings(
        shots=prepared.shots,
        overlays=prepared.text_overlays,
        transcript=transcript,
        speech_checked=speech_checked,
        has_audio=prepared.video.has_audio,
    )
    if whole is None:
        summary = summarize(frames, aspects, findings)
    else:
        summary = " ".join([whole.summary, *findings.sentences()]).strip()
    total_s = prepared.decode_s + inference_s
    duration = prepared.video.duration_s
    measured = MetricInputs(
        duration_s=duration,
        frame_times=[f.timestamp_s for f in frames],
        shots=prepared.shots,
        motion=prepared.motion,
        overlays=prepared.text_overlays,
        transcript=transcript,
        speech_checked=speech_checked,
        sound=prepared.sound,
    )
    return AnalysisResult(
        video=prepared.video,
        model=model_info,
        frames=frames,
        aspects=aspects,
        summary=summary,
        timings=Timings(
            decode_s=round(prepared.decode_s, 3),
            inference_s=round(inference_s, 3),
            total_s=round(total_s, 3),
            realtime_factor=round(total_s / duration, 4) if duration > 0 else 0.0,
            stages_s=stages_s,
        ),
        warnings=warnings,
        shots=prepared.shots,
        text_overlays=prepared.text_overlays,
        transcript=transcript,
        metrics=video_metrics(measured),
    )


def analyze_video(
    path: str | Path,
    analyzer: Analyzer,
    model_info: ModelInfo,
    options: AnalysisOptions,
    progress: ProgressCallback | None = None,
    stages: Stages | None = None,
) -> AnalysisResult:
    """The whole analysis of one file, in this process (keyframes are not kept: use prepare)."""
    prepared = prepare(path, analyzer, options, stages)
    return describe_prepared(prepared, analyzer, model_info, progress, stages)
