"""A result cut into the searchable segments of the library: one row per phrase, text or caption."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["speech", "text", "visual", "summary", "source"]
KINDS: tuple[Kind, ...] = ("speech", "text", "visual", "summary", "source")

#: a spoken phrase ends after this many words or at a pause this long (short snippets, exact times)
PHRASE_WORDS = 12
PHRASE_PAUSE_S = 0.7


@dataclass(frozen=True)
class Segment:
    """One searchable piece of a result; times are None for the summary and the source."""

    kind: Kind
    text: str
    start_s: float | None = None
    end_s: float | None = None
    image: str | None = None


def segments(result: dict[str, Any]) -> list[Segment]:
    """Every searchable segment of ``result`` (the stored JSON), each with its nearest keyframe."""
    frames = [f for f in result.get("frames") or [] if isinstance(f, dict)]
    found = [
        *_speech(result.get("transcript")),
        *_text(result.get("text_overlays")),
        *_visual(frames, result.get("aspects")),
    ]
    timed = [_with_image(s, frames) for s in found if s.text.strip()]
    first = _first_image(frames)
    untimed = [
        Segment("summary", str(result.get("summary") or ""), image=first),
        *_source(result.get("source"), first),
    ]
    return timed + [s for s in untimed if s.text.strip()]


def _speech(transcript: Any) -> Iterator[Segment]:
    if not isinstance(transcript, dict):
        return
    for seg in transcript.get("segments") or []:
        words = [w for w in seg.get("words") or [] if str(w.get("text", "")).strip()]
        if not words:
            yield Segment("speech", str(seg.get("text", "")).strip(), seg["start_s"], seg["end_s"])
            continue
        phrase: list[dict[str, Any]] = []
        for word in words:
            pause = phrase and word["start_s"] - phrase[-1]["end_s"] >= PHRASE_PAUSE_S
            if pause or len(phrase) >= PHRASE_WORDS:
                yield _phrase(phrase)
                phrase = []
            phrase.append(word)
        yield _phrase(phrase)


def _phrase(words: list[dict[str, Any]]) -> Segment:
    text = " ".join(str(w["text"]).strip() for w in words)
    return Segment("speech", text, float(words[0]["start_s"]), float(words[-1]["end_s"]))


def _text(overlays: Any) -> Iterator[Segment]:
    for overlay in overlays or []:
        yield Segment("text", str(overlay["text"]), overlay["start_s"], overlay["end_s"])


def _visual(frames: list[dict[str, Any]], aspects: Any) -> Iterator[Segment]:
    for frame in frames:
        at = float(frame.get("timestamp_s", 0.0))
        yield Segment("visual", str(frame.get("caption", "")), at, at, frame.get("image"))
    for answers in (aspects or {}).values():
        for answer in answers:
            ranges = answer.get("time_ranges") or []
            start, end = (ranges[0][0], ranges[-1][1]) if ranges else (None, None)
            yield Segment("visual", str(answer.get("text", "")), start, end)


def _source(source: Any, image: str | None) -> Iterator[Segment]:
    # issue 20's platform metadata: a dict (title, description, hashtags) or null/absent
    if not isinstance(source, dict):
        return
    for key in ("title", "description"):
        if source.get(key):
            yield Segment("source", str(source[key]), image=image)
    tags = [str(t) for t in source.get("hashtags") or [] if t]
    if tags:
        yield Segment(
            "source", " ".join(t if t.startswith("#") else f"#{t}" for t in tags), image=image
        )


def _first_image(frames: list[dict[str, Any]]) -> str | None:
    return next((str(f["image"]) for f in frames if f.get("image")), None)


def _with_image(segment: Segment, frames: list[dict[str, Any]]) -> Segment:
    """The segment with the keyframe nearest its middle (a frame's own caption keeps its own)."""
    if segment.image is not None or segment.start_s is None:
        return segment
    middle = (
        segment.start_s + (segment.end_s if segment.end_s is not None else segment.start_s)
    ) / 2
    described = [f for f in frames if f.get("image")]
    if not described:
        return segment
    nearest = min(described, key=lambda f: abs(float(f.get("timestamp_s", 0.0)) - middle))
    return Segment(
        segment.kind, segment.text, segment.start_s, segment.end_s, str(nearest["image"])
    )
