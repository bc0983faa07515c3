"""Scoring an OCR engine on the labelled frames: recall, precision, ms per frame, noise cost."""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from analyzers.testing.overlays import LabelledFrame, background, draw_text, style_cycle


def _words(text: str) -> Counter[str]:
    return Counter(re.findall(r"[a-z0-9]+", text.lower()))


def score_reader(reader: Any, frames: Sequence[LabelledFrame]) -> dict[str, float]:
    """Word recall and precision over ``frames``, and ms per frame (median, worst)."""
    reader.read(frames[0].image, 0.0)  # warm-up: first calls pay for allocations
    matched = truth = found = 0
    times: list[float] = []
    for frame in frames:
        began = time.perf_counter()
        read = reader.read(frame.image, 0.0)
        times.append(1000 * (time.perf_counter() - began))
        want, got = _words(frame.text), _words(" ".join(t for t, _ in read.blocks))
        matched += sum((want & got).values())
        truth += sum(want.values())
        found += sum(got.values())
    return {
        "recall": matched / truth if truth else 1.0,
        "precision": matched / found if found else 1.0,
        "ms_median": statistics.median(times),
        "ms_worst": max(times),
    }


def cost_frames(kind: str, width: int, height: int, count: int) -> list[np.ndarray]:
    """``count`` frames on one background kind, each with the same styled overlay as the others."""
    frames = []
    for index in range(count):
        style, text = style_cycle(index)
        base = background(kind, width, height, seed=index)
        frames.append(draw_text(base, text, style, max(16, width // 11), 0.3 + 0.1 * (index % 4)))
    return frames


def noise_to_clean(reader: Any, width: int = 720, height: int = 1280, count: int = 8) -> float:
    """Seconds of OCR on fine-noise frames over seconds on flat frames, same text and size."""
    seconds = {}
    reader.read(cost_frames("flat", width, height, 1)[0], 0.0)
    for kind in ("noise", "flat"):
        frames = cost_frames(kind, width, height, count)
        began = time.perf_counter()
        for index, frame in enumerate(frames):
            reader.read(frame, float(index))
        seconds[kind] = time.perf_counter() - began
    return seconds["noise"] / seconds["flat"]
