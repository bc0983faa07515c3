"""The OCR engines on the labelled frames: every style, flat to busy backgrounds, bounded cost."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from analyzers.stages import Stages, StagesConfig
from analyzers.stages.ocr import FrameText, OcrReader, OcrUnavailable, Word
from analyzers.stages.ocr_engines import TextReader, load_reader, read_within
from analyzers.stages.ocr_rapid import RapidReader, split_line
from analyzers.testing.ocr_bench import score_reader
from analyzers.testing.overlays import BACKGROUNDS, STYLES, labelled_frames
from api.settings import load_settings

needs_tesseract = pytest.mark.skipif(
    not Path("/usr/share/tesseract-ocr").exists(), reason="tesseract-ocr is not installed"
)


@pytest.fixture(scope="module")
def rapid() -> RapidReader:
    return RapidReader("cpu")


def test_the_set_holds_every_style_on_every_background() -> None:
    frames = labelled_frames()
    assert {(f.style, f.background) for f in frames if f.text} == {
        (s, b) for s in STYLES for b in BACKGROUNDS
    }
    assert {f.background for f in frames if not f.text} == set(BACKGROUNDS)


def test_rapidocr_reads_every_style_and_invents_nothing(rapid: RapidReader) -> None:
    # Precision counts the words read on the frames without text (busy ones too).
    scores = score_reader(rapid, labelled_frames(seed=2))
    assert scores["recall"] >= 0.9 and scores["precision"] >= 0.95, scores


def test_accents_fold_and_words_split_at_spaces() -> None:
    box = [[0, 0], [10, 0], [10, 10], [0, 10]]
    chars = [(c, 1.0, box) for c in "SALETODÃY"]
    words = split_line("SALE TODÃY", 0.97, chars, box, fold=True)
    assert [w.text for w in words] == ["SALE", "TODAY"]
    assert split_line("día", 0.9, [], box, fold=False)[0].text == "día"


class _Slow:
    name = "slow"

    def words(self, rgb: np.ndarray) -> list[Word]:
        return []

    def read(self, rgb: np.ndarray, timestamp_s: float) -> FrameText:
        time.sleep(0.05)
        return FrameText(timestamp_s, [("HELLO", 0.9)])

    def close(self) -> None:
        pass


def test_the_budget_stops_the_stage_with_a_warning() -> None:
    reader: TextReader = _Slow()
    frames = [np.zeros((4, 4, 3), np.uint8)] * 20
    read, warning = read_within(reader, frames, [float(i) for i in range(20)], budget_s=0.12)
    assert 2 <= len(read) < 20
    assert warning is not None and "OCR_BUDGET_S" in warning and "of 20 frames" in warning
    assert read_within(reader, frames[:3], [0.0, 1.0, 2.0], budget_s=0)[1] is None


def test_the_budget_warning_reaches_the_result() -> None:
    stages = Stages(_config("rapidocr", budget_s=0.01))
    stages.ocr = _Slow()
    images = [np.zeros((4, 4, 3), np.uint8)] * 5
    found, warnings = stages.read_text(images, [0.0, 1.0, 2.0, 3.0, 4.0])
    assert found is not None and [o.text for o in found] == ["HELLO"]
    assert len(warnings) == 1 and "stopped" in warnings[0]


@needs_tesseract
def test_the_engine_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().ocr_engine == "rapidocr"
    monkeypatch.setenv("TIKTOK_ANALYZER_OCR_ENGINE", "tesseract")
    monkeypatch.setenv("TIKTOK_ANALYZER_OCR_BUDGET_S", "12.5")
    config = load_settings().stages_config(keyframes=False)
    assert (config.ocr_engine, config.ocr_budget_s) == ("tesseract", 12.5)
    stages = Stages.load(config)
    assert isinstance(stages.ocr, OcrReader) and stages.ocr.name == "tesseract"
    stages.close()


def test_an_unknown_engine_or_language_skips_the_stage() -> None:
    with pytest.raises(OcrUnavailable, match="unknown OCR engine"):
        load_reader("easyocr", "eng", "cpu")
    stages = Stages.load(_config("rapidocr", langs="xyz"))
    assert stages.ocr is None and any("xyz" in w for w in stages.load_warnings)


def _config(engine: str, langs: str = "eng", budget_s: float = 30.0) -> StagesConfig:
    return StagesConfig(
        sampling="uniform",
        ocr=True,
        ocr_langs=langs,
        transcribe=False,
        asr_model="",
        keyframes=False,
        device="cpu",
        quantization="fp32",
        ocr_engine=engine,
        ocr_budget_s=budget_s,
    )
