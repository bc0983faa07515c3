"""Reading the video LLM's free text into the result, leniently: malformed text never fails a job.

An answer may be plain text (it then holds for the whole video) or lines of
``START-END s: text`` / ``At T s: text``; the timed form is used only when every
line of the answer reads as one with sane times, otherwise the whole answer,
cleaned, is taken as one untimed answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from analyzers.answers import clean_answer, normalize_answer
from analyzers.aspects import ASPECT_LABELS
from analyzers.base import FrameCaption, VideoDescription
from analyzers.schema import EMPTY_ANSWER, AspectAnswer

_NUMBER = r"(\d{1,5}(?:\.\d+)?)"
_UNIT = r"\s*(s|secs?|seconds?)?\.?"
# "0-5 s: text", "[0.0 - 4.5] text", "At 3 s: text"; a lone number needs a unit or "at"/"from",
# so an answer such as "3, 4 and 5 people" is not read as a time.
_TIMED_LINE = re.compile(
    rf"^[\s\-*\u2022]*[\[(]?\s*(from\s+|at\s+)?{_NUMBER}{_UNIT}"
    rf"(?:\s*(?:-|\u2013|\u2014|to|until)\s*{_NUMBER}{_UNIT})?\s*(?:[\])]\s*[:,\-\u2013\u2014]?|[:,\-\u2013\u2014])\s*(.+)$",
    re.IGNORECASE,
)
_SPECIAL = re.compile(r"<\|[^|>]{1,40}\|>|</?s>|<pad>|<unk>|<image>|<video>")
#: an end time this far past the video's end is still read as "until the end"
_END_SLACK_S = 1.0


@dataclass(frozen=True)
class TimedText:
    """One piece of an answer and the span of the video it is about."""

    text: str
    start_s: float
    end_s: float


def read_answer(raw: str, duration_s: float) -> list[TimedText]:
    """Timed pieces of an answer, or the whole cleaned answer over the whole video."""
    timed = _timed_lines(raw, duration_s)
    if timed:
        return timed
    return [TimedText(clean_answer(_SPECIAL.sub(" ", raw)), 0.0, duration_s)]


def _timed_lines(raw: str, duration_s: float) -> list[TimedText] | None:
    lines = [line for line in _SPECIAL.sub(" ", raw).splitlines() if line.strip()]
    pieces: list[TimedText] = []
    for line in lines:
        match = _TIMED_LINE.match(line)
        if match is None or not any(match.group(g) for g in (1, 3, 4, 5)):
            return None
        start = float(match.group(2))
        end = float(match.group(4)) if match.group(4) is not None else start
        if end < start or start > duration_s or end > duration_s + _END_SLACK_S:
            return None
        text = clean_answer(match.group(6))
        if text != EMPTY_ANSWER:
            pieces.append(TimedText(text, start, min(end, duration_s)))
    return pieces or None


def _frames_within(timestamps: Sequence[float], start: float, end: float) -> int:
    return sum(1 for t in timestamps if start <= t <= end)


def to_aspect_answers(
    pieces: Sequence[TimedText], timestamps: Sequence[float]
) -> list[AspectAnswer]:
    """Pieces with the same wording (normalised) become one answer; most frames first."""
    groups: dict[str, list[TimedText]] = {}
    for piece in pieces:
        groups.setdefault(normalize_answer(piece.text) or piece.text, []).append(piece)
    answers = [
        AspectAnswer(
            text=group[0].text,
            frames=sum(_frames_within(timestamps, p.start_s, p.end_s) for p in group),
            time_ranges=[(round(p.start_s, 3), round(p.end_s, 3)) for p in group],
        )
        for group in groups.values()
    ]
    answers.sort(key=lambda a: (a.text == EMPTY_ANSWER, -a.frames))
    return answers


def is_timed(pieces: Sequence[TimedText], duration_s: float) -> bool:
    """True when the model gave times (not the whole-video fallback)."""
    return not (len(pieces) == 1 and pieces[0].start_s == 0.0 and pieces[0].end_s == duration_s)


def frame_captions(
    timestamps: Sequence[float],
    description: Sequence[TimedText],
    aspects: dict[str, list[TimedText]],
    duration_s: float,
) -> list[FrameCaption]:
    """Per-frame fields only where the model gave times covering the frame; "" and {} elsewhere."""
    out = []
    for t in timestamps:
        caption = ""
        if is_timed(description, duration_s):
            caption = next((p.text for p in description if p.start_s <= t <= p.end_s), "")
        answers: dict[str, str] = {}
        for name, pieces in aspects.items():
            if is_timed(pieces, duration_s):
                hit = next((p.text for p in pieces if p.start_s <= t <= p.end_s), None)
                if hit is not None:
                    answers[name] = hit
        out.append(FrameCaption(caption=caption, aspects=answers))
    return out


def summary_text(
    description: Sequence[TimedText], aspects: dict[str, list[AspectAnswer]], duration_s: float
) -> str:
    """The detailed description; when the model gave none, the leading answer of each aspect."""
    texts = [p for p in description if p.text != EMPTY_ANSWER]
    if texts and is_timed(description, duration_s):
        return " ".join(f"{p.start_s:.1f}-{p.end_s:.1f} s: {_sentence(p.text)}" for p in texts)
    if texts:
        return _sentence(texts[0].text)
    parts = ["No description was produced."]
    for name, answers in aspects.items():
        real = [a.text for a in answers if a.text != EMPTY_ANSWER]
        if real:
            parts.append(f"{ASPECT_LABELS.get(name, name.capitalize())}: {real[0]}.")
    return " ".join(parts)


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def video_description(
    texts: Sequence[str],
    aspects: Sequence[str],
    timestamps: Sequence[float],
    duration_s: float,
    warnings: Sequence[str] = (),
) -> VideoDescription:
    """The result's parts from the raw texts: description first, then one answer per aspect."""
    description = read_answer(texts[0] if texts else "", duration_s)
    # A missing answer reads as empty rather than failing the job.
    given = list(texts[1:])
    pieces = {
        name: read_answer(given[i] if i < len(given) else "", duration_s)
        for i, name in enumerate(aspects)
    }
    answers = {name: to_aspect_answers(p, timestamps) for name, p in pieces.items()}
    return VideoDescription(
        summary=summary_text(description, answers, duration_s),
        aspects=answers,
        frames=frame_captions(timestamps, description, pieces, duration_s),
        warnings=list(warnings),
    )
