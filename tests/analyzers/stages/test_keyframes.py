"""Keyframe JPEGs: size, writing beside a job, and a write that fails is a warning."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analyzers.schema import AnalysisResult, FrameDescription, ModelInfo, Timings, VideoInfo
from analyzers.stages.keyframes import keyframe_jpeg, keyframe_jpegs, link_frames, write_keyframes


def _frame(width: int, height: int) -> np.ndarray:
    ramp = np.linspace(0, 255, width, dtype=np.float32).astype(np.uint8)
    return np.ascontiguousarray(np.stack([np.broadcast_to(ramp, (height, width))] * 3, axis=2))


def test_jpeg_is_about_360_high_and_never_enlarged() -> None:
    big = Image.open(io.BytesIO(keyframe_jpeg(_frame(720, 1280))))
    assert big.format == "JPEG" and big.size == (202, 360)
    small = Image.open(io.BytesIO(keyframe_jpeg(_frame(180, 320))))
    assert small.size == (180, 320)


def test_one_jpeg_per_frame() -> None:
    jpegs, warnings = keyframe_jpegs([_frame(64, 64), _frame(64, 48)])
    assert warnings == [] and len(jpegs) == 2 and all(j and j[:2] == b"\xff\xd8" for j in jpegs)


def test_written_beside_the_job(tmp_path: Path) -> None:
    jpegs, _ = keyframe_jpegs([_frame(64, 64)] * 3)
    written, warnings = write_keyframes([jpegs[0], None, jpegs[2]], tmp_path / "job" / "frames")
    assert warnings == []
    assert written == [tmp_path / "job" / "frames" / "0.jpg", None, tmp_path / "job/frames/2.jpg"]
    assert sorted(p.name for p in (tmp_path / "job" / "frames").iterdir()) == ["0.jpg", "2.jpg"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_disk_is_a_warning(tmp_path: Path) -> None:
    jpegs, _ = keyframe_jpegs([_frame(64, 64)] * 2)
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "1.part").symlink_to("/dev/full")  # writing there fails with ENOSPC
    written, warnings = write_keyframes(jpegs, folder)
    assert written[0] == folder / "0.jpg" and written[1] is None
    assert len(warnings) == 1 and "1 of 2 keyframe" in warnings[0]
    assert "No space left on device" in warnings[0]


def test_folder_that_cannot_exist_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    written, warnings = write_keyframes([b"x"], tmp_path / "file" / "frames")
    assert written == [None] and "keyframes were not kept" in warnings[0]


def test_links_fill_frames_image() -> None:
    result = AnalysisResult(
        video=VideoInfo(
            duration_s=2.0,
            fps=30.0,
            frame_count=60,
            width=64,
            height=64,
            orientation="square",
            codec="h264",
            has_audio=False,
        ),
        model=ModelInfo(name="m", quantization="fp32", device="cpu"),
        frames=[FrameDescription(timestamp_s=t, caption="c") for t in (0.5, 1.5)],
        aspects={},
        summary="",
        timings=Timings(decode_s=0, inference_s=0, total_s=0, realtime_factor=0),
    )
    linked = link_frames(result, ["/jobs/a/frames/0", None])
    assert [f.image for f in linked.frames] == ["/jobs/a/frames/0", None]
    assert result.frames[0].image is None  # the original is left alone
