"""Small JPEGs of the described frames, for people to see what the model saw."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from analyzers.schema import AnalysisResult

#: height of a keyframe in pixels (width follows the frame's shape)
KEYFRAME_HEIGHT = 360
JPEG_QUALITY = 80


def keyframe_jpeg(rgb: np.ndarray, height: int = KEYFRAME_HEIGHT) -> bytes:
    """One RGB frame as a JPEG about ``height`` pixels high (never enlarged)."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb))
    if image.height > height:
        width = max(1, round(image.width * height / image.height))
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def keyframe_jpegs(images: list[np.ndarray]) -> tuple[list[bytes | None], list[str]]:
    """A JPEG per frame (None where encoding failed), and warnings for the failures."""
    jpegs: list[bytes | None] = []
    failed = 0
    for image in images:
        try:
            jpegs.append(keyframe_jpeg(image))
        except (OSError, ValueError):
            jpegs.append(None)
            failed += 1
    warnings = [f"{failed} keyframe image(s) could not be encoded"] if failed else []
    return jpegs, warnings


def write_keyframes(
    jpegs: list[bytes | None], directory: Path, name: str = "{n}.jpg"
) -> tuple[list[Path | None], list[str]]:
    """Write ``directory / name.format(n=index)`` per JPEG; one not written is a warning."""
    written: list[Path | None] = []
    failures: list[str] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [None] * len(jpegs), [f"keyframes were not kept: {directory}: {exc.strerror or exc}"]
    for n, jpeg in enumerate(jpegs):
        target = directory / name.format(n=n)
        if jpeg is None:
            written.append(None)
            continue
        try:
            # Written aside, then renamed: a reader never sees half a picture.
            partial = target.with_suffix(".part")
            partial.write_bytes(jpeg)
            partial.replace(target)
            written.append(target)
        except OSError as exc:
            written.append(None)
            failures.append(exc.strerror or str(exc))
    warnings = []
    if failures:
        warnings.append(
            f"{len(failures)} of {len(jpegs)} keyframe image(s) could not be written to "
            f"{directory}: {failures[0]}"
        )
    return written, warnings


def link_frames(result: AnalysisResult, links: list[str | None]) -> AnalysisResult:
    """A copy of ``result`` with ``frames[n].image`` set to ``links[n]`` (None stays unset)."""
    padded = list(links) + [None] * max(0, len(result.frames) - len(links))
    frames = [
        frame.model_copy(update={"image": link})
        for frame, link in zip(result.frames, padded, strict=False)
    ]
    return result.model_copy(update={"frames": frames})
