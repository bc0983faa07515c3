"""OCR with the real Tesseract on overlay text the tests draw (fonts, sizes, colours, outlines)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analyzers.media.sampling import sample_frames
from analyzers.stages import Stages, StagesConfig
from analyzers.stages.ocr import FrameText, OcrReader, find_tessdata, merge_overlays
from analyzers.testing.story_clips import FONTS, Overlay, make_story_video, overlay_frame

pytestmark = pytest.mark.skipif(
    not Path("/usr/share/tesseract-ocr").exists(), reason="tesseract-ocr is not installed"
)

#: (width, height, overlays): the styles short videos use, on busy backgrounds
CASES = [
    (360, 640, [Overlay("FOLLOW FOR MORE", 0, 1, size=44, y=0.25)]),
    (360, 640, [Overlay("Best pasta ever", 0, 1, size=36, font=FONTS[1], fill=(255, 220, 0))]),
    (
        360,
        640,
        [
            Overlay("wait for it", 0, 1, size=30, font=FONTS[2], y=0.5),
            Overlay("PART 2", 0, 1, size=56, fill=(255, 60, 60), y=0.85),
        ],
    ),
    (720, 1280, [Overlay("day 3 of learning\nto cook", 0, 1, size=64, font=FONTS[3], y=0.4)]),
    (720, 1280, [Overlay("small caption text here", 0, 1, size=36, stroke=3, y=0.9)]),
    (
        360,
        640,
        [Overlay("dark letters", 0, 1, size=40, fill=(0, 0, 0), outline=(255, 255, 255), stroke=4)],
    ),
]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


@pytest.fixture(scope="module")
def reader() -> OcrReader:
    return OcrReader("eng")


def test_reads_drawn_overlays(reader: OcrReader) -> None:
    expected = found = 0
    misread: list[tuple[str, str]] = []
    for index, (width, height, overlays) in enumerate(CASES):
        frame = overlay_frame(width, height, overlays, shot=index)
        got = _words(" ".join(t for t, _ in reader.read(frame, 0.0).blocks))
        for overlay in overlays:
            truth = _words(overlay.text)
            expected += len(truth)
            found += sum(1 for w in truth if w in got)
            if any(w not in got for w in truth):
                misread.append((overlay.text, " ".join(got)))
    assert found / expected >= 0.9, misread


def test_separate_overlays_are_separate_blocks(reader: OcrReader) -> None:
    width, height, overlays = CASES[2]
    blocks = reader.read(overlay_frame(width, height, overlays, shot=2), 1.0).blocks
    assert [_words(t) for t, _ in blocks] == [["wait", "for", "it"], ["part", "2"]]
    assert all(0.6 <= c <= 1.0 for _, c in blocks)


def test_busy_background_without_text_reads_nothing(reader: OcrReader) -> None:
    for shot in range(4):
        assert reader.read(overlay_frame(360, 640, [], shot=shot), 0.0).blocks == []


def test_merge_same_text_on_consecutive_frames() -> None:
    frames = [
        FrameText(0.5, [("FOLLOW FOR MORE", 0.9)]),
        FrameText(1.5, [("FOLLOW FOR M0RE", 0.7), ("PART 2", 0.95)]),
        FrameText(2.5, [("PART 2", 0.93)]),
        FrameText(3.5, []),
        FrameText(4.5, [("FOLLOW FOR MORE", 0.92)]),
    ]
    merged = [(o.text, o.start_s, o.end_s) for o in merge_overlays(frames)]
    assert merged == [
        ("FOLLOW FOR MORE", 0.5, 1.5),
        ("PART 2", 1.5, 2.5),
        ("FOLLOW FOR MORE", 4.5, 4.5),  # gone in between: shown again, a new overlay
    ]
    assert merge_overlays(frames)[0].confidence == pytest.approx(0.8)


def test_a_word_misread_on_one_frame_is_the_same_overlay() -> None:
    frames = [
        FrameText(1.0, [("Best pasta ever", 0.95)]),
        FrameText(2.0, [("Best a pasta", 0.9)]),
        FrameText(3.0, [("PART 1", 0.95)]),
        FrameText(4.0, [("PART 2", 0.95)]),
    ]
    merged = [(o.text, o.start_s, o.end_s) for o in merge_overlays(frames)]
    assert merged == [
        ("Best pasta ever", 1.0, 2.0),
        ("PART 1", 3.0, 3.0),  # one word in common is not enough: a new overlay
        ("PART 2", 4.0, 4.0),
    ]


def test_overlays_of_a_video_at_known_times(tmp_path: Path) -> None:
    overlays = [
        Overlay("SUBSCRIBE NOW", 0.0, 2.0, size=40),
        Overlay("so good", 2.5, 5.0, size=44, font=FONTS[1], fill=(120, 255, 120), y=0.6),
    ]
    path, _ = make_story_video(
        tmp_path / "text.mp4", width=360, height=640, duration_s=5.0, overlays=overlays
    )
    sampled = sample_frames(path, num_frames=10)
    stages = Stages.load(_config(ocr_langs="eng"))
    found, warnings = stages.read_text(sampled.images, sampled.timestamps)
    assert warnings == [] and found is not None
    assert [_words(o.text) for o in found] == [["subscribe", "now"], ["so", "good"]]
    for got, drawn in zip(found, overlays, strict=True):
        assert drawn.start_s <= got.start_s <= got.end_s < drawn.end_s
        assert got.end_s - got.start_s >= (drawn.end_s - drawn.start_s) - 1.0  # 0.5 s sampling


def test_missing_language_data_skips_the_stage_with_a_warning() -> None:
    stages = Stages.load(_config(ocr_langs="xyz"))
    assert stages.ocr is None
    assert any("OCR" in w and "xyz" in w for w in stages.load_warnings)
    assert stages.read_text([], []) == (None, [])


def test_tessdata_is_found_for_installed_languages() -> None:
    assert Path(find_tessdata("eng"), "eng.traineddata").is_file()


def _config(ocr_langs: str) -> StagesConfig:
    return StagesConfig(
        sampling="uniform",
        ocr=True,
        ocr_langs=ocr_langs,
        transcribe=False,
        asr_model="",
        keyframes=False,
        device="cpu",
        quantization="fp32",
        ocr_engine="tesseract",  # this file tests the Tesseract reader; RapidOCR: test_ocr_engines
    )
