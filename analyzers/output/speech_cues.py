"""What is said as readable subtitle cues, cut with the word times.

Subtitle conventions: at most two lines of about 42 characters (as even as the
words allow), on screen at most 7 s, a new cue where the speaker pauses. A segment
without word times (a result from an earlier release) stays one cue, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from analyzers.schema import TranscriptSegment, TranscriptWord

#: characters on one subtitle line
MAX_LINE_CHARS = 42
#: longest a cue stays on screen
MAX_CUE_S = 7.0
#: a silence this long between words starts a new cue
PAUSE_S = 1.0

#: (start_s, end_s, text); the text's lines are joined by "\n"
SpeechCue = tuple[float, float, str]


def speech_cues(
    segments: Sequence[TranscriptSegment], video_end_s: float, min_cue_s: float
) -> list[SpeechCue]:
    """Cues in time order, each shown at least ``min_cue_s`` unless the next one starts."""
    timed: list[tuple[float, float, str]] = []
    for segment in segments:
        if not segment.words:
            timed.append((segment.start_s, segment.end_s, segment.text))
            continue
        for group in _groups(segment.words):
            timed.append((group[0].start_s, group[-1].end_s, _text(group)))
    timed.sort(key=lambda cue: cue[0])
    cues: list[SpeechCue] = []
    for index, (start, end, text) in enumerate(timed):
        following = timed[index + 1][0] if index + 1 < len(timed) else video_end_s
        # Long enough to read, but never over the next cue of speech.
        shown = max(end, min(start + min_cue_s, max(following, end)))
        cues.append((start, shown, text))
    return cues


def _groups(words: Sequence[TranscriptWord]) -> list[list[TranscriptWord]]:
    groups: list[list[TranscriptWord]] = []
    for word in words:
        group = groups[-1] if groups else None
        if group and word.start_s - group[-1].end_s < PAUSE_S and _fits([*group, word]):
            group.append(word)
        else:
            groups.append([word])
    return groups


def _fits(words: Sequence[TranscriptWord]) -> bool:
    fits_time = words[-1].end_s - words[0].start_s <= MAX_CUE_S
    return fits_time and _lines([w.text for w in words]) is not None


def _lines(texts: Sequence[str]) -> list[str] | None:
    """One line if it fits, else two as even as the words allow; None if two cannot hold it."""
    whole = " ".join(texts)
    if len(whole) <= MAX_LINE_CHARS:
        return [whole]
    pairs = [[" ".join(texts[:cut]), " ".join(texts[cut:])] for cut in range(1, len(texts))]
    fitting = [pair for pair in pairs if max(len(line) for line in pair) <= MAX_LINE_CHARS]
    return min(fitting, key=lambda pair: max(len(line) for line in pair)) if fitting else None


def _text(words: Sequence[TranscriptWord]) -> str:
    texts = [w.text for w in words]
    # A lone word longer than a line stays whole: there is nowhere to cut it.
    return "\n".join(_lines(texts) or [" ".join(texts)])
