"""On-screen text with PP-OCR (text detection + recognition) through RapidOCR on onnxruntime.

A learned detector finds text of any style (plain white, a drop shadow, a box,
an outline) where Tesseract's masks need an outline. Its cost depends on the
frame's size, not on its texture: the detector runs once on a frame no longer
than ``DETECT_LONG_SIDE``, and at most ``MAX_BOXES`` boxes are read.

Only the models inside the rapidocr wheel are used, named by path: RapidOCR
would otherwise download models it does not hold, which a server cannot.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from analyzers.stages.ocr import FrameText, OcrUnavailable, Word, blocks_of

logger = logging.getLogger(__name__)

#: the detector sees frames at most this large on their long side (cost bound, small text)
DETECT_LONG_SIDE = 960
#: boxes read per frame at most (a busy frame cannot make recognition unbounded)
MAX_BOXES = 24
#: lines the recogniser is less sure of (0-1) are dropped: texture reads as stray letters
MIN_LINE_SCORE = 0.8
#: the languages (Tesseract's names, as TIKTOK_ANALYZER_OCR_LANGS) the wheel's recogniser reads
LANGS = ("eng", "chi_sim", "chi_tra")
_DET_MODEL = "PP-OCRv6_det_small.onnx"
_REC_MODEL = "PP-OCRv6_rec_small.onnx"


def _models_dir() -> Path:
    try:
        import rapidocr
    except ImportError as exc:
        raise OcrUnavailable(f"rapidocr cannot be imported ({exc})") from exc
    folder = Path(rapidocr.__file__).parent / "models"
    missing = [m for m in (_DET_MODEL, _REC_MODEL) if not (folder / m).is_file()]
    if missing:
        raise OcrUnavailable(f"rapidocr's wheel lacks {', '.join(missing)} in {folder}")
    return folder


def _wants_cuda(device: str) -> bool:
    if device == "cpu":
        return False
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


class RapidReader:
    """PP-OCR detection and recognition, loaded once; ``read`` is safe from any thread."""

    name = "rapidocr"

    def __init__(self, device: str = "auto", langs: str = "eng") -> None:
        unknown = [lang for lang in langs.split("+") if lang not in LANGS]
        if unknown:
            raise OcrUnavailable(
                f"RapidOCR's models read {', '.join(LANGS)}, not {'+'.join(unknown)!r}; "
                "set TIKTOK_ANALYZER_OCR_ENGINE=tesseract for other languages"
            )
        folder = _models_dir()
        from rapidocr import RapidOCR

        cuda = _wants_cuda(device)
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.use_cls": False,  # overlays are upright; the cls model is not in the wheel
            "Global.max_side_len": DETECT_LONG_SIDE,
            "Det.model_path": str(folder / _DET_MODEL),
            "Det.limit_type": "max",
            "Det.limit_side_len": DETECT_LONG_SIDE,
            "Det.max_candidates": MAX_BOXES,
            "Rec.model_path": str(folder / _REC_MODEL),
            "EngineConfig.onnxruntime.use_cuda": cuda,
        }
        try:
            self._engine: Any = RapidOCR(params=params)
        except Exception as exc:  # a broken onnxruntime or model: the stage is skipped
            raise OcrUnavailable(f"RapidOCR cannot load its models: {exc}") from exc
        self._lock = threading.Lock()
        self._fold = all(lang == "eng" for lang in langs.split("+"))
        self.device = "cuda" if cuda else "cpu"
        logger.info("OCR engine: RapidOCR PP-OCRv6 small on %s", self.device)

    def close(self) -> None:
        self._engine = None

    def words(self, rgb: np.ndarray) -> list[Word]:
        """Confident words of one RGB frame, each with its own box."""
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        with self._lock:
            out = self._engine(
                bgr, use_cls=False, return_word_box=True, return_single_char_box=True
            )
        if out.txts is None:
            return []
        found: list[Word] = []
        lines = zip(out.txts, out.scores, out.word_results, out.boxes, strict=False)
        for text, score, chars, box in lines:
            if float(score) >= MIN_LINE_SCORE:
                found += split_line(str(text), float(score), chars, box, self._fold)
        return found

    def read(self, rgb: np.ndarray, timestamp_s: float) -> FrameText:
        return FrameText(timestamp_s, blocks_of(self.words(rgb)))


def split_line(text: str, score: float, chars: Any, line: Any, fold: bool) -> list[Word]:
    """A read line cut into words at its spaces, each with its letters' box.

    ``fold``: accents dropped ("TODÃY" is "TODAY"); the multilingual recogniser adds
    them on busy backgrounds where the languages read (English) have none.
    """
    if fold:
        text = "".join(
            c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
        )
    boxes = [_span(box) for c, _, box in chars if box is not None and str(c).strip()]
    letters = text.replace(" ", "")
    words: list[Word] = []
    position = 0
    for piece in text.split():
        spans = boxes[position : position + len(piece)] if len(boxes) == len(letters) else []
        position += len(piece)
        if not any(ch.isalnum() for ch in piece):
            continue
        box = (
            (min(b[0] for b in spans), min(b[1] for b in spans))
            + (max(b[2] for b in spans), max(b[3] for b in spans))
            if spans
            else _span(line)  # no letter boxes to trust: the line's
        )
        words.append(Word(piece, 100.0 * score, box))
    return words


def _span(box: Any) -> tuple[int, int, int, int]:
    points = np.asarray(box)
    left, top = points.min(axis=0)
    right, bottom = points.max(axis=0)
    return int(left), int(top), int(right), int(bottom)
