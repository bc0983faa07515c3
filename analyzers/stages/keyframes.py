"""Small JPEGs of the described frames, for people to see what the model saw."""

from __future__ import annotations

import io

import numpy as np

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
