"""On-screen text with Tesseract (tesserocr), tuned for the overlays of short videos.

Overlay text is a bright fill inside a dark outline (or dark letters on a bright
box) over a busy, moving picture. Plain Tesseract binarises the whole frame and
mostly reads the background. So each frame is first reduced to the components
that look like outlined letters: connected regions of one polarity whose border
touches the other polarity almost everywhere. Those are drawn black on white,
Tesseract reads them as sparse text, and words under a confidence threshold
are dropped. Readings of consecutive frames that agree merge into one overlay.

tesserocr, not pytesseract: the model loads once per worker instead of once per
frame in a new process, it reads NumPy frames without a temporary file, releases
the GIL while it works, and gives word boxes and confidences directly.
"""

from __future__ import annotations

import glob
import os
import re
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

import numpy as np

from analyzers.schema import TextOverlay

#: words Tesseract is less sure of (0-100) are dropped
MIN_WORD_CONFIDENCE = 60.0
#: single characters need more: background texture often reads as "|" or "o"
MIN_SINGLE_CHAR_CONFIDENCE = 85.0
#: readings on consecutive frames at least this similar are the same overlay
SAME_TEXT_RATIO = 0.8
#: ...or when this share of the shorter reading's words (two at least) are in the other
SAME_WORDS_SHARE = 0.66
#: frames are read at most this large on their long side (small text stays legible)
OCR_LONG_SIDE = 1280

_BRIGHT = 170  # max(R, G, B) at or above: a fill colour (white, yellow, red ...)
_DARK = 70  # luma at or below: an outline
_BORDER_SHARE = 0.85  # share of a component's edge that must touch the other polarity
_SAME_COLOUR = 60.0  # RGB distance within which two letters have the same fill
_WORD_CHARS = re.compile(r"[^\w]+")
_NUMBERS = re.compile(r"\d+")
_EDGE_JUNK = "|[](){}<>\"'`~_=+*^«»“”‘’—–-.,:;!?¦©®"


class OcrUnavailable(Exception):
    """Tesseract or its language data cannot be loaded; the stage is skipped."""


def find_tessdata(langs: str) -> str:
    """The tessdata folder holding every language of ``langs`` ('eng+deu')."""
    candidates = [os.environ.get("TESSDATA_PREFIX", "")]
    candidates += sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata"), reverse=True)
    candidates += ["/usr/share/tessdata", "/usr/local/share/tessdata"]
    wanted = [lang for lang in langs.split("+") if lang]
    for folder in filter(None, candidates):
        if all(os.path.isfile(os.path.join(folder, f"{lang}.traineddata")) for lang in wanted):
            return folder.rstrip("/") + "/"
    looked = ", ".join(filter(None, candidates))
    raise OcrUnavailable(
        f"no Tesseract language data for {langs!r} (looked in {looked}); "
        "install tesseract-ocr and tesseract-ocr-<lang>, or set TIKTOK_ANALYZER_OCR_LANGS"
    )


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float  # 0-100
    box: tuple[int, int, int, int]  # left, top, right, bottom


@dataclass(frozen=True)
class FrameText:
    """Text blocks read on one frame, top to bottom, each with its mean confidence (0-1)."""

    timestamp_s: float
    blocks: list[tuple[str, float]] = field(default_factory=list)


def text_masks(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Black-on-white images of the outlined letters in an RGB frame: bright fills, dark fills."""
    import cv2

    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    value = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 2]  # max(R, G, B), fast
    bright = (value >= _BRIGHT).astype(np.uint8)
    dark = (luma <= _DARK).astype(np.uint8)
    # Two images, not one: with both polarities in one, the outline of white letters that
    # stands on a bright background would pass as a dark letter and fill every "o".
    return tuple(  # type: ignore[return-value]
        np.where(_bordered(fill, border, rgb), 0, 255).astype(np.uint8)
        for fill, border in ((bright, dark), (dark, bright))
    )


def _bordered(fill: np.ndarray, border: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Components of ``fill`` whose edge pixels nearly all lie next to ``border`` pixels."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(fill, connectivity=4)
    kernel = np.ones((3, 3), np.uint8)
    edge = fill & (1 - cv2.erode(fill, kernel))
    # Two pixels of reach: antialiasing leaves a mid-grey pixel between fill and outline.
    near = cv2.dilate(border, np.ones((5, 5), np.uint8))
    edge_total = np.bincount(labels[edge > 0], minlength=count)
    edge_touching = np.bincount(labels[(edge & near) > 0], minlength=count)
    width, height, area = stats[:, 2], stats[:, 3], stats[:, 4]
    frame_h = fill.shape[0]
    keep = edge_touching >= _BORDER_SHARE * np.maximum(edge_total, 1)
    keep &= (area >= 6) & (height <= frame_h // 6)
    keep[0] = False
    # Solid squares are background texture, unless a letter stands right below (the dot
    # of an "i" or "j"); solid bars are letters ("I", "l", the stem of "i").
    short, long = np.minimum(width, height), np.maximum(width, height)
    square = (area >= 0.9 * width * height) & (short > 8) & (long < 1.6 * short) & keep
    for index in np.flatnonzero(square):
        if not _letter_below(int(index), stats, keep & ~square):
            keep[index] = False
    keep &= _shares_colour(keep, labels, area, rgb)
    result: np.ndarray = keep[labels]
    return result


def _shares_colour(
    keep: np.ndarray, labels: np.ndarray, area: np.ndarray, rgb: np.ndarray
) -> np.ndarray:
    """Components whose colour other kept components share, by at least their own area.

    The letters of an overlay share its fill colour; the background seen through the
    counters of thickly outlined letters ("a", "e") and stray texture blocks do not.
    """
    chosen = np.flatnonzero(keep)
    if len(chosen) == 0:
        return keep
    inside = keep[labels]  # only the kept components' pixels: a small part of the frame
    owners = labels[inside]
    sums = np.stack(
        [np.bincount(owners, weights=rgb[..., c][inside], minlength=len(keep)) for c in range(3)],
        axis=1,
    )
    colours = sums[chosen] / np.maximum(area[chosen], 1)[:, None]
    distance = np.linalg.norm(colours[:, None, :] - colours[None, :, :], axis=2)
    alike_area = (distance <= _SAME_COLOUR) @ area[chosen]
    shared = np.zeros_like(keep)
    shared[chosen] = alike_area >= 2 * area[chosen]  # its own area and as much again
    return shared


def _letter_below(index: int, stats: np.ndarray, letters: np.ndarray) -> bool:
    x, y, w, h = (int(v) for v in stats[index, :4])
    left, top, width = stats[:, 0], stats[:, 1], stats[:, 2]
    below = letters & (top > y + h) & (top <= y + 3 * h)
    below &= (left < x + w) & (left + width > x)
    return bool(below.any())


def import_tesserocr() -> Any:
    """Import tesserocr with its libraries bound at once (RTLD_NOW).

    decord loads its own libpng with RTLD_GLOBAL; a Tesseract whose libpng calls are
    bound lazily would then call that one and abort the process ('pixReadMem: png').
    Bound at import, before any decord, Tesseract keeps its own. Workers and the CLI
    load the stages before they decode; the test suite imports it first (conftest).
    """
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_NOW)
    try:
        import tesserocr
    finally:
        sys.setdlopenflags(flags)
    return tesserocr


class OcrReader:
    """One Tesseract instance, loaded once; ``read`` is safe to call from any thread."""

    name = "tesseract"

    def __init__(self, langs: str) -> None:
        try:
            tesserocr = import_tesserocr()
        except ImportError as exc:
            raise OcrUnavailable(f"tesserocr cannot be imported ({exc})") from exc
        self._tesserocr = tesserocr
        path = find_tessdata(langs)
        try:
            self._api = tesserocr.PyTessBaseAPI(
                path=path, lang=langs, psm=tesserocr.PSM.SPARSE_TEXT
            )
        except RuntimeError as exc:
            raise OcrUnavailable(f"Tesseract cannot load {langs!r} from {path}: {exc}") from exc
        # The mask is already black on white: Tesseract need not try the inverted image.
        self._api.SetVariable("tessedit_do_invert", "0")
        self._lock = threading.Lock()
        self.langs = langs

    def close(self) -> None:
        self._api.End()

    def words(self, rgb: np.ndarray) -> list[Word]:
        """Confident words of one RGB frame."""
        light_letters, dark_letters = text_masks(rgb)
        found = self._recognise(light_letters)
        # Dark letters (outlined in white, or on a bright box) where no light word is.
        found += [w for w in self._recognise(dark_letters) if not _overlaps_any(w, found)]
        return found

    def _recognise(self, mask: np.ndarray) -> list[Word]:
        if mask.min() == 255:
            return []  # nothing that looks like a letter: no need to ask Tesseract
        pixels = np.ascontiguousarray(mask, dtype=np.uint8)
        height, width = pixels.shape
        with self._lock:
            # Raw grey bytes: no PNG encoding of every mask on the way in.
            self._api.SetImageBytes(pixels.tobytes(), width, height, 1, width)
            self._api.Recognize()
            return _confident_words(self._api.GetIterator(), self._tesserocr)

    def read(self, rgb: np.ndarray, timestamp_s: float) -> FrameText:
        return FrameText(timestamp_s, blocks_of(self.words(rgb)))


def _confident_words(iterator: Any, tesserocr: Any) -> list[Word]:
    if iterator is None:
        return []
    level = tesserocr.RIL.WORD
    found: list[Word] = []
    for item in tesserocr.iterate_level(iterator, level):
        try:
            text = item.GetUTF8Text(level).strip().strip(_EDGE_JUNK)
        except RuntimeError:  # an empty word
            continue
        confidence = float(item.Confidence(level))
        if not any(ch.isalnum() for ch in text):
            continue
        needed = MIN_SINGLE_CHAR_CONFIDENCE if len(text) == 1 else MIN_WORD_CONFIDENCE
        if confidence < needed:
            continue
        box = item.BoundingBox(level)
        if box is not None:
            found.append(Word(text, confidence, tuple(int(v) for v in box)))  # type: ignore[arg-type]
    return found


def _overlaps_any(word: Word, others: Sequence[Word]) -> bool:
    left, top, right, bottom = word.box
    return any(
        left < o.box[2] and o.box[0] < right and top < o.box[3] and o.box[1] < bottom
        for o in others
    )


def blocks_of(words: Sequence[Word]) -> list[tuple[str, float]]:
    """Words grouped into lines, lines into blocks (a gap under a line's height), top down."""
    lines: list[list[Word]] = []
    for word in sorted(words, key=lambda w: (w.box[1] + w.box[3]) / 2):
        centre = (word.box[1] + word.box[3]) / 2
        line = lines[-1] if lines else None
        if line is not None and line[0].box[1] <= centre <= line[0].box[3]:
            line.append(word)
        else:
            lines.append([word])
    blocks: list[list[list[Word]]] = []
    for line in lines:
        top = min(w.box[1] for w in line)
        if blocks:
            previous = blocks[-1][-1]
            bottom = max(w.box[3] for w in previous)
            height = max(w.box[3] - w.box[1] for w in previous)
            if top - bottom < height:
                blocks[-1].append(line)
                continue
        blocks.append([line])
    result: list[tuple[str, float]] = []
    for block in blocks:
        ordered = [w for line in block for w in sorted(line, key=lambda w: w.box[0])]
        text = " ".join(w.text for w in ordered)
        result.append((text, sum(w.confidence for w in ordered) / len(ordered) / 100.0))
    return result


def _key(text: str) -> str:
    return _WORD_CHARS.sub(" ", text.lower()).strip()


def _same(a: str, b: str) -> bool:
    """Two readings of one overlay: nearly the same letters, or mostly the same words."""
    if a == b:
        return True
    numbers_a, numbers_b = _NUMBERS.findall(a), _NUMBERS.findall(b)
    if numbers_a and numbers_b and numbers_a != numbers_b:
        return False  # "part 1" then "part 2", "day 3" then "day 4": the overlay changed
    if SequenceMatcher(None, a, b, autojunk=False).ratio() >= SAME_TEXT_RATIO:
        return True
    # A misread word or a word missed on one frame: "best a pasta" is "best pasta ever".
    words_a, words_b = set(a.split()), set(b.split())
    shared = len(words_a & words_b)
    return shared >= 2 and shared >= SAME_WORDS_SHARE * min(len(words_a), len(words_b))


@dataclass
class _Run:
    key: str
    start_s: float
    end_s: float
    readings: list[tuple[str, float]]


def merge_overlays(frames: Sequence[FrameText]) -> list[TextOverlay]:
    """The same text on consecutive frames becomes one overlay with its first and last time."""
    done: list[_Run] = []
    open_runs: list[_Run] = []
    for frame in frames:
        still_open: list[_Run] = []
        for text, confidence in frame.blocks:
            key = _key(text)
            run = next((r for r in open_runs if _same(r.key, key)), None)
            if run is None:
                run = _Run(key, frame.timestamp_s, frame.timestamp_s, [])
            else:
                open_runs.remove(run)
            run.end_s = frame.timestamp_s
            run.readings.append((text, confidence))
            still_open.append(run)
        done.extend(open_runs)  # not seen on this frame: the overlay has gone
        open_runs = still_open
    done.extend(open_runs)
    done.sort(key=lambda r: (r.start_s, r.end_s))
    return [
        TextOverlay(
            # The most confident reading: one bad frame should not decide the text.
            text=max(run.readings, key=lambda r: r[1])[0],
            start_s=round(run.start_s, 3),
            end_s=round(run.end_s, 3),
            confidence=round(sum(c for _, c in run.readings) / len(run.readings), 3),
        )
        for run in done
    ]
