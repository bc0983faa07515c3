"""Cleaning raw model answers, merging them across frames, and the summary text."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from analyzers.aspects import ASPECT_LABELS
from analyzers.schema import (
    EMPTY_ANSWER,
    AspectAnswer,
    FrameDescription,
    Shot,
    TextOverlay,
    Transcript,
)

_SPECIAL_TOKENS = re.compile(r"</?s>|<pad>|<unk>|<image>|<\|endoftext\|>|<mask>")
# Control characters and U+FFFD come from byte-level tokens cut mid-character.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_SPACES = re.compile(r"\s+")
# The model sometimes carries on with the next turn of the "Question: ... Answer:" pattern.
_NEXT_TURN = re.compile(r"\b(?:question|answer)\s*:", re.IGNORECASE)
_EDGE_PUNCT = " \t\n,;:-\u2013\u2014.\u2026/\\|*_~"
# Words a truncated answer tends to stop on ("a man with a hat and").
_DANGLING = frozenset(
    {"a", "an", "the", "and", "or", "but", "with", "of", "in", "on", "at", "to", "from", "by"}
    | {"for", "is", "are", "was", "were", "that", "which", "who", "as"}
)
_ARTICLES = frozenset({"a", "an", "the"})
_WORD_CHARS = re.compile(r"[^\w\s]")

#: answers at least this similar (difflib ratio on normalised text) count as the same answer
SIMILARITY_THRESHOLD = 0.85
#: minimum words in a trailing fragment that restates an earlier phrase before it is dropped
_MIN_TRAILING_REPEAT = 3


def _norm_word(word: str) -> str:
    return _WORD_CHARS.sub("", word.lower())


def _strip_prompt(text: str, prompt: str) -> str:
    if prompt:
        flat_prompt = _SPACES.sub(" ", prompt).strip()
        if text.lower().startswith(flat_prompt.lower()):
            text = text[len(flat_prompt) :]
    # An echoed "Question: ... Answer:" leaves the answer after its first "Answer:".
    answer_at = [m.end() for m in re.finditer(r"\banswer\s*:", text, re.IGNORECASE)]
    if answer_at and _NEXT_TURN.match(text.lstrip()):
        text = text[answer_at[0] :]
    nxt = _NEXT_TURN.search(text)
    if nxt and nxt.start() > 0:
        text = text[: nxt.start()]
    elif nxt:
        text = ""
    return text


def _collapse_consecutive(words: list[str]) -> list[str]:
    """'a hat on top of a hat on top of a hat' -> 'a hat on top of a hat'; 'the the' -> 'the'."""
    changed = True
    while changed:
        changed = False
        keys = [_norm_word(w) for w in words]
        for size in range(1, len(words) // 2 + 1):
            i = 0
            while i + 2 * size <= len(keys):
                if keys[i : i + size] == keys[i + size : i + 2 * size] and any(keys[i : i + size]):
                    del words[i + size : i + 2 * size]
                    del keys[i + size : i + 2 * size]
                    changed = True
                else:
                    i += 1
            if changed:
                break
    return words


def _drop_trailing_restatement(words: list[str]) -> list[str]:
    """'a man with a hat, a man with' -> 'a man with a hat'."""
    keys = [_norm_word(w) for w in words]
    for size in range(len(words) // 2, _MIN_TRAILING_REPEAT - 1, -1):
        tail = keys[-size:]
        head = keys[:-size]
        if any(head[i : i + size] == tail for i in range(len(head) - size + 1)):
            return words[:-size]
    return words


def _trim_edges(words: list[str]) -> list[str]:
    while words and _norm_word(words[-1]) in _DANGLING and len(words) > 1:
        words = words[:-1]
    return words


def clean_answer(text: str, prompt: str = "") -> str:
    """Turn what generate() decoded into a tidy answer; EMPTY_ANSWER when nothing is left."""
    text = _CONTROL.sub("", _SPECIAL_TOKENS.sub(" ", text))
    text = _SPACES.sub(" ", text).strip()
    text = _strip_prompt(text, prompt)
    words = [w for w in text.strip(_EDGE_PUNCT).split() if w.strip(_EDGE_PUNCT)]
    words = _collapse_consecutive(words)
    words = _drop_trailing_restatement(words)
    words = _trim_edges(words)
    cleaned = " ".join(words).strip(_EDGE_PUNCT).strip()
    return cleaned if cleaned else EMPTY_ANSWER


def normalize_answer(text: str) -> str:
    """Comparison key: lower case, no punctuation, no articles."""
    return " ".join(w for w in _WORD_CHARS.sub(" ", text.lower()).split() if w not in _ARTICLES)


def _similar(a: str, b: str) -> bool:
    return a == b or SequenceMatcher(None, a, b, autojunk=False).ratio() >= SIMILARITY_THRESHOLD


@dataclass
class _Group:
    key: str
    indices: list[int] = field(default_factory=list)
    texts: Counter[str] = field(default_factory=Counter)


def _spans(indices: list[int], timestamps: Sequence[float]) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    start = prev = indices[0]
    for i in indices[1:]:
        if i != prev + 1:
            spans.append((timestamps[start], timestamps[prev]))
            start = i
        prev = i
    spans.append((timestamps[start], timestamps[prev]))
    return spans


def merge_answers(answers: Sequence[str], timestamps: Sequence[float]) -> list[AspectAnswer]:
    """Distinct answers (near-duplicates merged), most frequent first, empty answers last."""
    groups: list[_Group] = []
    for index, text in enumerate(answers):
        empty = text == EMPTY_ANSWER
        key = EMPTY_ANSWER if empty else normalize_answer(text)
        group = next(
            (g for g in groups if (g.key == EMPTY_ANSWER) == empty and _similar(g.key, key)), None
        )
        if group is None:
            group = _Group(key)
            groups.append(group)
        group.indices.append(index)
        group.texts[text] += 1
    # Stable sort: ties keep first-seen order.
    groups.sort(key=lambda g: (g.key == EMPTY_ANSWER, -len(g.indices)))
    return [
        AspectAnswer(
            # most_common breaks ties by first insertion, i.e. the earliest wording seen
            text=g.texts.most_common(1)[0][0],
            frames=len(g.indices),
            time_ranges=_spans(g.indices, timestamps),
        )
        for g in groups
    ]


def aggregate_aspects(
    frames: list[FrameDescription], aspects: Sequence[str]
) -> dict[str, list[AspectAnswer]]:
    """Per requested aspect, the distinct answers across frames with where they hold."""
    timestamps = [f.timestamp_s for f in frames]
    return {
        aspect: merge_answers([f.aspects.get(aspect, EMPTY_ANSWER) for f in frames], timestamps)
        for aspect in aspects
    }


def _share(answer: AspectAnswer, total: int) -> str:
    return f"{answer.frames}/{total} frames"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


#: the aspect whose BLIP-2 answers give way to OCR in the summary when OCR ran
TEXT_ASPECT = "text"
#: overlays and transcript words quoted in the summary at most
_MAX_OVERLAYS_QUOTED = 4
_MAX_SPOKEN_WORDS = 60


def _quote_span(text: str, start: float, end: float) -> str:
    when = f"{start:.1f} s" if end - start < 0.05 else f"{start:.1f}-{end:.1f} s"
    return f'"{text}" ({when})'


def describe_cuts(shots: list[Shot]) -> str:
    """'One continuous shot.' or 'Cut into 5 shots, 2.4 s long on average.'"""
    if len(shots) <= 1:
        return "One continuous shot."
    mean = sum(s.end_s - s.start_s for s in shots) / len(shots)
    return f"Cut into {len(shots)} shots, {mean:.1f} s long on average."


def describe_overlays(overlays: list[TextOverlay]) -> str:
    """The on-screen text read by OCR, in order of appearance, with when it shows."""
    if not overlays:
        return "No on-screen text was read."
    quoted = [_quote_span(o.text, o.start_s, o.end_s) for o in overlays[:_MAX_OVERLAYS_QUOTED]]
    more = len(overlays) - len(quoted)
    tail = f"; and {more} more" if more > 0 else ""
    return f"On-screen text: {'; '.join(quoted)}{tail}."


def describe_speech(transcript: Transcript | None, has_audio: bool) -> str:
    """What is said (the start of it), in which language; or that nothing is."""
    if transcript is None:
        return "Speech: none heard." if has_audio else "No audio track."
    words = transcript.text.split()
    said = " ".join(words[:_MAX_SPOKEN_WORDS]) + (" ..." if len(words) > _MAX_SPOKEN_WORDS else "")
    where = transcript.language
    if transcript.segments:
        start, end = transcript.segments[0].start_s, transcript.segments[-1].end_s
        where += f", {start:.1f}-{end:.1f} s"
    return f'Speech ({where}): "{said}"'


@dataclass(frozen=True)
class StageFindings:
    """What the stages beside the analyzer found; None where a stage did not run."""

    shots: list[Shot] | None = None
    overlays: list[TextOverlay] | None = None
    transcript: Transcript | None = None
    #: whether speech was looked for (transcription on, model loaded, audio present or not)
    speech_checked: bool = False
    has_audio: bool = False

    def sentences(self) -> list[str]:
        """Cuts, on-screen text, speech: one sentence each for the stages that ran."""
        parts = []
        if self.shots is not None:
            parts.append(describe_cuts(self.shots))
        if self.overlays is not None:
            parts.append(describe_overlays(self.overlays))
        if self.speech_checked:
            parts.append(describe_speech(self.transcript, self.has_audio))
        return parts


def summarize(
    frames: list[FrameDescription],
    aspects: dict[str, list[AspectAnswer]],
    findings: StageFindings | None = None,
) -> str:
    """A readable overview: what is shown, how it is cut, what is written, what is said."""
    findings = findings or StageFindings()
    if not frames:
        return "No frames were described."
    total = len(frames)
    start, end = frames[0].timestamp_s, frames[-1].timestamp_s
    parts = [f"{total} frame{'s' if total != 1 else ''} sampled from {start:.1f} s to {end:.1f} s."]
    captions = [
        c
        for c in merge_answers([f.caption for f in frames], [f.timestamp_s for f in frames])
        if c.text != EMPTY_ANSWER
    ]
    if captions:
        lead = "Throughout" if captions[0].frames == total else "Mostly"
        parts.append(f"{lead}: {captions[0].text} ({_share(captions[0], total)}).")
        # Secondary captions only when they cover a real stretch of the video.
        others = [c for c in captions[1:3] if c.frames * 4 >= total]
        if others:
            also = "; ".join(f"{c.text} ({_share(c, total)})" for c in others)
            parts.append(f"Also: {also}.")
    for name, answers in aspects.items():
        real = [a for a in answers if a.text != EMPTY_ANSWER]
        if not real or (name == TEXT_ASPECT and findings.overlays is not None):
            continue  # OCR reads text; the caption model only guesses at it
        shown = [real[0].text] + [a.text for a in real[1:3] if a.frames * 4 >= total]
        label = ASPECT_LABELS.get(name, name.replace("_", " ").capitalize())
        parts.append(f"{label}: {'; '.join(shown)}.")
    parts += findings.sentences()
    return " ".join(_sentence(p) for p in parts)
