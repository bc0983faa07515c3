"""A labelled set of frames: on-screen text in the styles short videos use, over many backgrounds.

Styles: plain white, white with a drop shadow, dark letters on a light box, a colour
with an outline, two lines, mixed case. Backgrounds run from flat to busy: a flat
colour, a gradient, fine noise, a photo-like texture (smooth blobs and grain) and
confetti. Frames without text on the busiest backgrounds check that nothing is
invented. The tests, the benchmark and ``make eval`` read the same set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from analyzers.testing.story_clips import FONTS, _font

#: the on-screen text styles (names used in reports)
STYLES = ("white", "shadow", "box", "outline", "two_lines", "mixed_case")
#: backgrounds from flat to busy
BACKGROUNDS = ("flat", "gradient", "noise", "photo", "confetti")

_PHRASES = (
    "FOLLOW FOR MORE",
    "best pasta ever",
    "WAIT FOR IT",
    "link in bio",
    "PART 2",
    "morning routine",
    "watch till the end",
    "SALE TODAY ONLY",
    "easy home workout",
    "story time",
)
_TWO_LINES = ("day 3 of learning\nto cook", "you need to\ntry this", "my new\nfavourite song")
_MIXED = ("Best Pasta Ever", "Link In Bio", "Summer Vibes", "How To Make This")
_COLOURS = ((255, 220, 0), (255, 70, 70), (120, 255, 120), (90, 200, 255), (255, 120, 220))


@dataclass(frozen=True)
class LabelledFrame:
    """One RGB frame and the text drawn on it (empty: no text)."""

    image: np.ndarray
    text: str
    style: str
    background: str


def background(kind: str, width: int, height: int, seed: int = 0) -> np.ndarray:
    """An RGB background: flat, gradient, noise, photo or confetti."""
    rng = np.random.default_rng(seed)
    makers: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
        "flat": _flat,
        "gradient": _gradient,
        "noise": _noise,
        "photo": _photo,
        "confetti": _confetti,
    }
    return makers[kind](rng, width, height)


def _flat(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    colour = rng.integers(30, 200, 3).astype(np.uint8)
    flat: np.ndarray = np.broadcast_to(colour, (height, width, 3)).copy()
    return flat


def _gradient(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    share = np.linspace(0.0, 1.0, height)[:, None, None]
    column = top * (1 - share) + bottom * share
    shaded: np.ndarray = np.broadcast_to(column, (height, width, 3)).astype(np.uint8)
    return shaded


def _noise(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Fine noise, every pixel its own: the worst case for a reader's cost."""
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _photo(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Smooth coloured blobs with grain: a stand-in for a photo (foliage, a room, a crowd)."""
    small = rng.integers(0, 256, (height // 40 + 2, width // 40 + 2, 3)).astype(np.uint8)
    blobs = np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC))
    grain = rng.normal(0, 18, (height, width, 3))
    return np.clip(blobs + grain, 0, 255).astype(np.uint8)


def _confetti(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Many small pieces of every colour (white and black too) on a gradient: edges, no letters."""
    image = Image.fromarray(_gradient(rng, width, height))
    draw = ImageDraw.Draw(image)
    for _ in range(width * height // 1200):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(3, 14)), int(rng.integers(3, 14))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.polygon([(x, y), (x + w, y + h // 3), (x + w // 2, y + h)], fill=colour)
    pieces: np.ndarray = np.asarray(image).copy()
    return pieces


def draw_text(frame: np.ndarray, text: str, style: str, size: int, y: float = 0.5) -> np.ndarray:
    """The frame with ``text`` drawn centred at height share ``y`` in ``style``."""
    image = Image.fromarray(frame).convert("RGBA")
    width, height = image.size
    font = _font(FONTS[0] if style != "mixed_case" else FONTS[3], size)
    draw = ImageDraw.Draw(image)
    stroke = max(2, size // 14) if style in {"outline", "two_lines", "mixed_case"} else 0
    box = draw.multiline_textbbox((0, 0), text, font=font, stroke_width=stroke, align="center")
    w, h = box[2] - box[0], box[3] - box[1]
    x0 = (width - w) // 2 - box[0]
    y0 = int(y * height) - h // 2 - box[1]
    fill: tuple[int, ...] = (255, 255, 255, 255)
    if style == "shadow":
        shadow = Image.new("RGBA", image.size, (0, 0, 0, 0))
        offset = max(2, size // 16)
        ImageDraw.Draw(shadow).multiline_text(
            (x0 + offset, y0 + offset), text, font=font, fill=(0, 0, 0, 200), align="center"
        )
        image = Image.alpha_composite(image, shadow.filter(ImageFilter.GaussianBlur(offset / 2)))
        draw = ImageDraw.Draw(image)
    elif style == "box":
        pad = size // 3
        draw.rectangle(
            (x0 + box[0] - pad, y0 + box[1] - pad, x0 + box[2] + pad, y0 + box[3] + pad),
            fill=(250, 250, 245, 255),
        )
        fill = (20, 20, 20, 255)
    elif style in {"outline", "two_lines", "mixed_case"}:
        fill = (*_COLOURS[(len(text) + size) % len(_COLOURS)], 255)
    draw.multiline_text(
        (x0, y0),
        text,
        font=font,
        fill=fill,
        stroke_width=stroke,
        stroke_fill=(0, 0, 0, 255),
        align="center",
    )
    drawn: np.ndarray = np.asarray(image.convert("RGB")).copy()
    return drawn


def _text_for(style: str, index: int) -> str:
    if style in {"two_lines", "mixed_case"}:  # one of each style per round: the next phrase
        index //= len(STYLES)
    if style == "two_lines":
        return _TWO_LINES[index % len(_TWO_LINES)]
    if style == "mixed_case":
        return _MIXED[index % len(_MIXED)]
    return _PHRASES[index % len(_PHRASES)]


def labelled_frames(
    width: int = 360, height: int = 640, seed: int = 0, blanks: int = 1
) -> list[LabelledFrame]:
    """Every style over every background, plus ``blanks`` frames without text per background."""
    frames: list[LabelledFrame] = []
    index = 0
    size = max(16, width // 11)
    for kind in BACKGROUNDS:
        for style in STYLES:
            text = _text_for(style, index)
            base = background(kind, width, height, seed * 100 + index)
            y = (0.3, 0.5, 0.7)[index % 3]
            frames.append(LabelledFrame(draw_text(base, text, style, size, y), text, style, kind))
            index += 1
        for blank in range(blanks):
            base = background(kind, width, height, seed * 100 + 50 + blank)
            frames.append(LabelledFrame(base, "", "none", kind))
    return frames


def style_cycle(index: int) -> tuple[str, str]:
    """The (style, text) a clip's ``index``-th overlay uses: every style in turn."""
    style = STYLES[index % len(STYLES)]
    return style, _text_for(style, index)
