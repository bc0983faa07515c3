"""Whether two videos share a sound or are the same video: verifying the index's candidates.

Sound: the Chromaprint items of both are aligned at the offsets where their index keys
agree most; an item matches when it differs in at most SOUND_BIT_ERRORS of its 32 bits,
and the sounds are the same when the matching items add up to MIN_SOUND_S seconds
(and are not one steady tone: MIN_DISTINCT_ITEMS).
Pictures: the frames' difference hashes are matched in order (the longest common
subsequence of frames within FRAME_BIT_ERRORS of 64 bits); the videos are the same when
at least SAME_VIDEO_SHARE of the shorter one's frames match.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from analyzers.stages.fingerprints import ITEM_S

#: bits (of 32) in which a Chromaprint item may differ and still match (unrelated: about 16)
SOUND_BIT_ERRORS = 8
#: seconds of matching sound that make two videos' sounds the same
MIN_SOUND_S = 5.0
#: distinct items the matching stretch must hold: a steady tone or hum is no sound to share
MIN_DISTINCT_ITEMS = 10
#: offsets between the two sounds that are tried (the ones most index keys agree on)
OFFSETS_TRIED = 3
#: bits (of 64) in which two frames' hashes may differ and still show the same picture
FRAME_BIT_ERRORS = 10
#: share of the shorter video's frames that must match, in order, for same_video
SAME_VIDEO_SHARE = 0.6
#: the index's key of a Chromaprint item: its high bits (the low ones flip first)
SOUND_KEY_SHIFT = 12
#: a frame hash with fewer set (or unset) bits is a flat picture, like any other flat one
FLAT_BITS = 6


def sound_keys(items: Sequence[int]) -> list[int]:
    """The index keys of a sound: each item's high bits, once each."""
    return sorted({item >> SOUND_KEY_SHIFT for item in items})


def frame_keys(hashes: Sequence[int]) -> list[int]:
    """The index keys of the frames: each informative hash cut in four 16-bit bands."""
    keys = {
        band << 16 | (value >> (16 * band)) & 0xFFFF
        for value in hashes
        if informative(value)
        for band in range(4)
    }
    return sorted(keys)


def informative(value: int) -> bool:
    """False for the hash of a flat or nearly flat picture (it matches any other)."""
    return FLAT_BITS < value.bit_count() < 64 - FLAT_BITS


def same_sound(query: Sequence[int], other: Sequence[int]) -> float | None:
    """Share of the shorter sound that matches the other (0-1), or None under MIN_SOUND_S."""
    if not query or not other:
        return None
    mine = np.asarray(query, dtype=np.uint32)
    theirs = np.asarray(other, dtype=np.uint32)
    best = 0
    for offset in _likely_offsets(query, other):
        start, stop = max(0, offset), min(len(mine), len(theirs) + offset)
        if stop <= start:
            continue
        overlap = mine[start:stop]
        close = (
            np.bitwise_count(overlap ^ theirs[start - offset : stop - offset]) <= SOUND_BIT_ERRORS
        )
        if len(np.unique(overlap[close])) >= MIN_DISTINCT_ITEMS:
            best = max(best, int(np.count_nonzero(close)))
    if best * ITEM_S < MIN_SOUND_S:
        return None
    return round(best / min(len(mine), len(theirs)), 3)


def _likely_offsets(query: Sequence[int], other: Sequence[int]) -> list[int]:
    """Offsets (query position minus other position) where the most index keys agree."""
    where: dict[int, list[int]] = {}
    for position, item in enumerate(other):
        where.setdefault(item >> SOUND_KEY_SHIFT, []).append(position)
    votes: Counter[int] = Counter()
    for position, item in enumerate(query):
        for theirs in where.get(item >> SOUND_KEY_SHIFT, ()):
            votes[position - theirs] += 1
    return [offset for offset, _ in votes.most_common(OFFSETS_TRIED)]


def same_video(query: Sequence[int], other: Sequence[int]) -> float | None:
    """Share of the shorter video's frames matched in order (0-1), or None below the bar."""
    shorter = min(len(query), len(other))
    if shorter == 0:
        return None
    matched = _frames_in_order(query, other)
    needed = max(min(2, shorter), math.ceil(SAME_VIDEO_SHARE * shorter))
    return round(matched / shorter, 3) if matched >= needed else None


def _frames_in_order(query: Sequence[int], other: Sequence[int]) -> int:
    """Longest common subsequence of informative frames within FRAME_BIT_ERRORS of each other."""
    row = [0] * (len(other) + 1)
    for mine in query:
        previous_diagonal = 0
        for j, theirs in enumerate(other, start=1):
            above = row[j]
            close = informative(mine) and (mine ^ theirs).bit_count() <= FRAME_BIT_ERRORS
            row[j] = previous_diagonal + 1 if close else max(row[j], row[j - 1])
            previous_diagonal = above
    return row[-1]
