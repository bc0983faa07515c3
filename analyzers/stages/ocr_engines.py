"""The OCR engine a worker loads (RapidOCR's PP-OCR or Tesseract), and reading within a budget."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

from analyzers.stages.ocr import FrameText, OcrReader, OcrUnavailable, Word

OcrEngine = Literal["rapidocr", "tesseract"]
#: the engine used when the setting names none: the best recall and precision on the set
DEFAULT_ENGINE: OcrEngine = "rapidocr"
#: what each engine is, in words (README, /info, the log)
ENGINE_MODELS = {
    "rapidocr": "PP-OCRv6 small detection + recognition (RapidOCR, onnxruntime)",
    "tesseract": "Tesseract 5 LSTM on outlined-letter masks (tesserocr)",
}


class TextReader(Protocol):
    """What the stage needs of an engine."""

    name: str

    def words(self, rgb: np.ndarray) -> list[Word]: ...

    def read(self, rgb: np.ndarray, timestamp_s: float) -> FrameText: ...

    def close(self) -> None: ...


def load_reader(engine: str, langs: str, device: str) -> TextReader:
    """The engine named, loaded; OcrUnavailable when it cannot load."""
    if engine == "tesseract":
        return OcrReader(langs)
    if engine == "rapidocr":
        from analyzers.stages.ocr_rapid import RapidReader

        return RapidReader(device, langs)
    raise OcrUnavailable(f"unknown OCR engine {engine!r} (rapidocr or tesseract)")


def read_within(
    reader: TextReader,
    images: Sequence[np.ndarray],
    timestamps: Sequence[float],
    budget_s: float,
) -> tuple[list[FrameText], str | None]:
    """Frames read in order until ``budget_s`` is spent; a warning says where it stopped."""
    began = time.perf_counter()
    read: list[FrameText] = []
    for image, timestamp in zip(images, timestamps, strict=True):
        spent = time.perf_counter() - began
        if budget_s > 0 and spent >= budget_s:
            return read, (
                f"on-screen text (OCR) stopped after {spent:.1f} s "
                f"(TIKTOK_ANALYZER_OCR_BUDGET_S={budget_s:g}): "
                f"{len(read)} of {len(images)} frames read"
            )
        read.append(reader.read(image, timestamp))
    return read, None
