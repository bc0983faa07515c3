"""What the CLI shows a person on stdout by default: the result as a plain-text report.

(Markdown, SRT and WebVTT come from analyzers.output.exports, shared with the API.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from analyzers.output.source_text import source_facts
from analyzers.schema import AnalysisResult, AspectAnswer

#: answers shown per aspect in the text report (the JSON has them all)
TOP_ANSWERS = 3
#: time ranges shown per answer
TOP_RANGES = 3


def _video_line(result: AnalysisResult) -> str:
    v = result.video
    return (
        f"{v.orientation} {v.width}x{v.height}, {v.duration_s:.1f} s, {v.fps:.2f} fps, "
        f"{v.codec}, audio: {'yes' if v.has_audio else 'no'} (decoder: {v.decoder})"
    )


def _model_line(result: AnalysisResult) -> str:
    m = result.model
    line = f"{m.name} ({m.analyzer}, {m.quantization}, {m.device})"
    return line + ("  [random-weight test model: text is meaningless]" if m.test_model else "")


def _timings_line(result: AnalysisResult) -> str:
    t = result.timings
    return (
        f"decode {t.decode_s:.2f} s, inference {t.inference_s:.2f} s, total {t.total_s:.2f} s "
        f"({t.realtime_factor:.2f}x the video's length)"
    )


def _answers_text(answers: Sequence[AspectAnswer]) -> str:
    parts = []
    for a in answers[:TOP_ANSWERS]:
        ranges = ", ".join(f"{start:.1f}-{end:.1f}s" for start, end in a.time_ranges[:TOP_RANGES])
        more_ranges = ", ..." if len(a.time_ranges) > TOP_RANGES else ""
        parts.append(f"{a.text} ({a.frames} frames, {ranges}{more_ranges})")
    shown = "; ".join(parts)
    more = len(answers) - TOP_ANSWERS
    return shown + (f"; +{more} more" if more > 0 else "")


def _stage_lines(result: AnalysisResult) -> list[str]:
    """Speech, on-screen text and cuts, as indented lines; nothing for a stage that did not run."""
    lines: list[str] = []
    if result.transcript is not None:
        lines += ["", f"speech ({result.transcript.language}):"]
        lines += [
            f"  {seg.start_s:6.1f}-{seg.end_s:.1f}s  {seg.text}"
            for seg in result.transcript.segments
        ] or [f"  {result.transcript.text}"]
    if result.text_overlays:
        lines += ["", "on-screen text:"]
        lines += [
            f"  {o.start_s:6.1f}-{o.end_s:.1f}s  {o.text!r} ({o.confidence:.2f})"
            for o in result.text_overlays
        ]
    if result.shots:
        cuts = ", ".join(f"{shot.start_s:.1f}" for shot in result.shots[1:])
        lines += ["", f"shots: {len(result.shots)}" + (f" (cuts at {cuts} s)" if cuts else "")]
    return lines


def render_report(path: Path | str, result: AnalysisResult) -> str:
    """The result as text a person reads top to bottom; warnings come first, where they are seen."""
    lines = [f"== {path}"]
    # Warnings first: a partial decode or a meaningless test model changes how to read the rest.
    lines += [f"WARNING: {w}" for w in result.warnings]
    lines += [
        f"video: {_video_line(result)}",
        f"model: {_model_line(result)}",
    ]
    if result.source is not None:
        lines += [f"{label.lower()}: {text}" for label, text in source_facts(result.source)]
    lines += ["", f"summary: {result.summary}"]
    lines += _stage_lines(result)
    lines += ["", "aspects:"]
    lines += [f"  {name}: {_answers_text(answers)}" for name, answers in result.aspects.items()]
    lines += ["", "frames:"]
    for frame in result.frames:
        # frame.image: the keyframe file, when the CLI wrote one
        image = f"  [{frame.image}]" if frame.image else ""
        lines.append(f"  {frame.timestamp_s:7.2f}s  {frame.caption}{image}")
        for name, answer in frame.aspects.items():
            lines.append(f"             {name}: {answer}")
    lines += ["", f"timings: {_timings_line(result)}"]
    return "\n".join(lines) + "\n"
