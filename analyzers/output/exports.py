"""An AnalysisResult as a Markdown report, SRT or WebVTT subtitles, or JSON text.

Subtitles carry every timed thing the result holds, as cues: what is said
(transcript segments), what is written ("[text] ..." overlays), and each
aspect's answers and the captions ("[scene] ..."), over the spans they hold.
A sampled frame stands for the stretch of video around it: from halfway since
the previous frame to halfway to the next one.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from analyzers.answers import TEXT_ASPECT
from analyzers.aspects import ASPECT_LABELS
from analyzers.output.source_text import markdown_source
from analyzers.output.speech_cues import speech_cues
from analyzers.schema import EMPTY_ANSWER, AnalysisResult

ExportFormat = Literal["md", "srt", "vtt", "json"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("md", "srt", "vtt", "json")
#: Content-Type of each format, for the HTTP export route
MEDIA_TYPES: dict[str, str] = {
    "md": "text/markdown; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "json": "application/json",
}
#: file name extension of each format
EXTENSIONS: dict[str, str] = {"md": ".md", "srt": ".srt", "vtt": ".vtt", "json": ".json"}

#: shortest cue, so a moment (one frame, one word) stays readable on screen
MIN_CUE_S = 1.0
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")
#: a run of dashes before ">" (a timing arrow, or one that a shorter rewrite would make)
_ARROW = re.compile(r"-+>")
#: SRT's HTML-like tags and ASS override blocks, which players would render
_SRT_TAGS = re.compile(r"<[^>]*>|\{\\[^}]*\}")


@dataclass(frozen=True, order=True)
class Cue:
    start_s: float
    end_s: float
    text: str


def export(result: AnalysisResult, fmt: str) -> str:
    """The result in ``fmt`` (md, srt, vtt, json); ValueError for another format."""
    writers: dict[str, Callable[[AnalysisResult], str]] = {
        "md": to_markdown,
        "srt": to_srt,
        "vtt": to_vtt,
        "json": to_json,
    }
    if fmt not in writers:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    return writers[fmt](result)


def to_json(result: AnalysisResult) -> str:
    return result.model_dump_json(indent=2) + "\n"


class _FrameCover:
    """The stretch of video each sampled frame stands for."""

    def __init__(self, result: AnalysisResult) -> None:
        times = [f.timestamp_s for f in result.frames]
        self.times = times
        self.end = max([result.video.duration_s, *times]) if times else result.video.duration_s
        mids = [(a + b) / 2 for a, b in zip(times, times[1:], strict=False)]
        self.starts = [0.0, *mids]
        self.ends = [*mids, self.end]

    def span(self, start: float, end: float) -> tuple[float, float]:
        """[start, end] between frame times, widened to the frames' stretches."""
        if not self.times:
            return start, max(end, start + MIN_CUE_S)
        first = max(0, bisect_right(self.times, start + 1e-6) - 1)
        last = max(0, bisect_right(self.times, end + 1e-6) - 1)
        a, b = min(start, self.starts[first]), max(end, self.ends[last])
        return a, max(b, min(a + MIN_CUE_S, self.end))


def cues(result: AnalysisResult) -> list[Cue]:
    """Every timed thing in the result, in time order."""
    cover = _FrameCover(result)
    found: list[Cue] = []
    if result.transcript is not None:
        spoken = speech_cues(result.transcript.segments, cover.end, MIN_CUE_S)
        found += [Cue(start, end, text) for start, end, text in spoken]
    for overlay in result.text_overlays or []:
        start, end = cover.span(overlay.start_s, overlay.end_s)
        found.append(Cue(start, end, f"[text] {_one_line(overlay.text)}"))
    captions = _caption_spans(result)
    for name, answers in {"caption": captions, **_aspect_spans(result)}.items():
        label = ASPECT_LABELS.get(name, name).lower()
        for text, spans in answers:
            for a, b in spans:
                start, end = cover.span(a, b)
                found.append(Cue(start, end, f"[{label}] {_one_line(text)}"))
    return sorted(found, key=lambda c: (c.start_s, c.end_s))


def _one_line(text: str) -> str:
    # Only speech cues break lines (where they were split to be read); the rest is one line.
    return " ".join(text.split())


def _aspect_spans(result: AnalysisResult) -> dict[str, list[tuple[str, list[tuple[float, float]]]]]:
    return {
        name: [(a.text, list(a.time_ranges)) for a in answers if a.text != EMPTY_ANSWER]
        for name, answers in result.aspects.items()
        # With OCR's reading of the text, the caption model's guess at it would only confuse.
        if not (name == TEXT_ASPECT and result.text_overlays is not None)
    }


def _caption_spans(result: AnalysisResult) -> list[tuple[str, list[tuple[float, float]]]]:
    # Consecutive frames with the same caption make one cue.
    spans: list[tuple[str, list[tuple[float, float]]]] = []
    for frame in result.frames:
        if frame.caption in ("", EMPTY_ANSWER):
            continue
        if spans and spans[-1][0] == frame.caption:
            spans[-1][1][-1] = (spans[-1][1][-1][0], frame.timestamp_s)
        else:
            spans.append((frame.caption, [(frame.timestamp_s, frame.timestamp_s)]))
    return spans


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cue_text(text: str) -> str:
    # A blank line ends a cue and "-->" starts a timing line in both formats. The whole
    # run of dashes goes: rewriting only "-->" would turn "--->" back into "-->".
    return _ARROW.sub("->", " ".join(text.split())) or "..."


def _srt_text(text: str) -> str:
    # Tags go before the arrow guard: "--<i></i>>" must not become "-->" after it.
    return _cue_text(_SRT_TAGS.sub("", text))


def _cue_lines(text: str, clean: Callable[[str], str]) -> str:
    # Each line cleaned on its own: a two-line speech cue keeps its line break.
    return "\n".join(clean(line) for line in text.split("\n"))


def to_srt(result: AnalysisResult) -> str:
    blocks = [
        f"{n}\n{_clock(c.start_s, ',')} --> {_clock(c.end_s, ',')}\n"
        f"{_cue_lines(c.text, _srt_text)}\n"
        for n, c in enumerate(cues(result), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(result: AnalysisResult) -> str:
    def escape(text: str) -> str:
        return _cue_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    blocks = ["WEBVTT\n"]
    blocks += [
        f"{_clock(c.start_s, '.')} --> {_clock(c.end_s, '.')}\n{_cue_lines(c.text, escape)}\n"
        for c in cues(result)
    ]
    return "\n".join(blocks)


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _seconds(start: float, end: float) -> str:
    return f"{start:.1f} s" if abs(end - start) < 0.05 else f"{start:.1f}-{end:.1f} s"


def to_markdown(result: AnalysisResult) -> str:
    """A report a person can read: summary, then each part of the result with its times."""
    video, model = result.video, result.model
    lines = [
        "# Video analysis",
        "",
        f"{video.duration_s:.1f} s, {video.width}x{video.height} {video.orientation}, "
        f"{video.codec}, {'with' if video.has_audio else 'no'} audio. "
        f"Model: {_md(model.name)} ({model.analyzer}, {model.quantization}, {model.device})"
        + (", random-weight test model" if model.test_model else "")
        + ".",
        "",
        "## Summary",
        "",
        _md(result.summary),
        "",
    ]
    lines += markdown_source(result.source, _md)
    lines += _markdown_stages(result)
    lines += _markdown_aspects(result)
    lines += _markdown_frames(result)
    if result.warnings:
        lines += ["## Warnings", "", *[f"- {_md(w)}" for w in result.warnings], ""]
    t = result.timings
    lines += [
        "## Timings",
        "",
        f"Decode {t.decode_s:.2f} s, inference {t.inference_s:.2f} s, total {t.total_s:.2f} s "
        f"(realtime factor {t.realtime_factor:.3f})."
        + "".join(f" {name}: {s:.2f} s." for name, s in t.stages_s.items()),
        "",
    ]
    return "\n".join(lines)


def _markdown_stages(result: AnalysisResult) -> list[str]:
    lines: list[str] = []
    if result.shots is not None:
        lines += ["## Shots", "", "| shot | from | to |", "| --- | --- | --- |"]
        lines += [f"| {s.index} | {s.start_s:.2f} s | {s.end_s:.2f} s |" for s in result.shots]
        lines.append("")
    if result.text_overlays is not None:
        lines += ["## On-screen text", ""]
        if not result.text_overlays:
            lines.append("None read.")
        else:
            lines += ["| when | text | confidence |", "| --- | --- | --- |"]
            lines += [
                f"| {_seconds(o.start_s, o.end_s)} | {_md(o.text)} | {o.confidence:.2f} |"
                for o in result.text_overlays
            ]
        lines.append("")
    if result.transcript is not None:
        lines += ["## Transcript", "", f"Language: {result.transcript.language}", ""]
        lines += [
            f"- **{_seconds(s.start_s, s.end_s)}** {_md(s.text)}"
            for s in result.transcript.segments
        ]
        lines.append("")
    return lines


def _markdown_aspects(result: AnalysisResult) -> list[str]:
    lines: list[str] = ["## Aspects", ""] if result.aspects else []
    for name, answers in result.aspects.items():
        label = ASPECT_LABELS.get(name, name)
        if name == TEXT_ASPECT and result.text_overlays is not None:
            label += " (the caption model's guess; OCR's reading is above)"
        lines += [f"### {label}", ""]
        for answer in answers:
            spans = ", ".join(_seconds(a, b) for a, b in answer.time_ranges)
            lines.append(f"- {_md(answer.text)} ({answer.frames} frames: {spans})")
        lines.append("")
    return lines


def _markdown_frames(result: AnalysisResult) -> list[str]:
    if not result.frames:
        return []
    lines = ["## Frames", "", "| time | shot | caption | image |", "| --- | --- | --- | --- |"]
    for frame in result.frames:
        shot = "" if frame.shot is None else str(frame.shot)
        image = f"![frame]({frame.image})" if frame.image else ""
        lines.append(f"| {frame.timestamp_s:.2f} s | {shot} | {_md(frame.caption)} | {image} |")
    lines.append("")
    return lines
