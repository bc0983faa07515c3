"""probe_video on generated files and on the real-world corpus: real PyAV, no mocks."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from analyzers.errors import (
    AnalyzerError,
    EmptyFileError,
    NotAVideoError,
    NoVideoStreamError,
)
from analyzers.media.probe import probe_video
from analyzers.testing.clips import (
    make_animation,
    make_audio_only,
    make_empty_file,
    make_image_file,
    make_text_file,
    make_truncated_video,
    make_video,
)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("probe-media")


def test_portrait_tiktok_shape(portrait_video: Path) -> None:
    info = probe_video(portrait_video)
    assert info.duration_s == pytest.approx(30.0, abs=0.05)
    assert info.fps == pytest.approx(30.0)
    assert info.frame_count == 900
    assert (info.width, info.height, info.orientation) == (720, 1280, "vertical")
    assert info.codec == "h264"
    assert info.has_audio is False
    assert info.rotation == 0
    assert info.stream_index == 0
    assert info.decoder == ""


def test_landscape_with_audio(media: Path) -> None:
    path = make_video(media / "wide.mp4", width=320, height=180, duration_s=2, fps=25, audio=True)
    info = probe_video(path)
    assert (info.width, info.height, info.orientation) == (320, 180, "horizontal")
    assert info.has_audio is True
    assert info.frame_count == 50
    assert info.fps == pytest.approx(25.0)


def test_square(media: Path) -> None:
    info = probe_video(make_video(media / "sq.mp4", width=128, height=128, duration_s=1))
    assert info.orientation == "square"


@pytest.mark.parametrize(
    ("rotation", "size", "orientation"),
    [(0, (320, 180), "horizontal"), (90, (180, 320), "vertical"),
     (180, (320, 180), "horizontal"), (270, (180, 320), "vertical")],
)  # fmt: skip
def test_rotation_metadata_gives_display_size(
    media: Path, rotation: int, size: tuple[int, int], orientation: str
) -> None:
    # A phone stores portrait footage landscape and says "turn it 90" in the container.
    path = make_video(
        media / f"rot{rotation}.mp4", width=320, height=180, duration_s=1, rotation=rotation
    )
    info = probe_video(path)
    assert info.rotation == rotation
    assert (info.width, info.height) == size
    assert info.orientation == orientation


def test_matroska_without_frame_count_is_estimated(media: Path) -> None:
    # WebM/Matroska headers carry no frame count: duration x fps stands in for it.
    path = make_video(media / "vp9.webm", width=320, height=180, duration_s=2, codec="libvpx-vp9")
    info = probe_video(path)
    assert info.codec == "vp9"
    assert info.frame_count == 60
    assert info.duration_s == pytest.approx(2.0, abs=0.05)


def test_av1_codec_name_is_the_format_not_the_decoder(media: Path) -> None:
    policy = os.sched_getscheduler(0)
    path = make_video(media / "av1.mkv", width=320, height=192, duration_s=1, codec="libsvtav1")
    assert probe_video(path).codec == "av1"
    # SVT-AV1 makes its caller real-time as root; the clip builder puts it back, or every
    # later test's processes (podman, Ray) would run SCHED_FIFO and can starve the machine
    assert os.sched_getscheduler(0) == policy


BadMaker = Callable[[Path], object]


@pytest.mark.parametrize(
    ("maker", "name", "error", "words"),
    [
        (make_empty_file, "empty.mp4", EmptyFileError, "empty (0 bytes)"),
        (make_text_file, "notes.mp4", NotAVideoError, "not a video"),
        (make_image_file, "photo.mp4", NotAVideoError, "still image (png), not a video"),
        (make_audio_only, "song.mp4", NoVideoStreamError, "no video stream (it holds 1 audio"),
    ],
)
def test_bad_inputs_are_typed_and_worded(
    media: Path, maker: BadMaker, name: str, error: type[AnalyzerError], words: str
) -> None:
    path = media / name
    maker(path)
    with pytest.raises(error) as caught:
        probe_video(path)
    _assert_one_clean_line(caught.value, words)


def test_phone_video_cut_short_before_its_index(media: Path) -> None:
    # Phones write the MP4 index (moov) last: an upload cut short has none at all.
    whole = make_video(media / "phone.mp4", width=64, height=64, duration_s=1, faststart=False)
    cut = make_truncated_video(whole, media / "phone_cut.mp4", keep=0.5)
    with pytest.raises(NotAVideoError) as caught:
        probe_video(cut)
    _assert_one_clean_line(caught.value, "starts like an MP4/MOV video but cannot be read")


def test_missing_file_and_folder(media: Path) -> None:
    with pytest.raises(NotAVideoError) as caught:
        probe_video(media / "nowhere.mp4")
    _assert_one_clean_line(caught.value, "does not exist")
    with pytest.raises(NotAVideoError) as caught:
        probe_video(media)
    _assert_one_clean_line(caught.value, "not a regular file")


def _assert_one_clean_line(err: AnalyzerError, words: str) -> None:
    text = str(err)
    assert words in text
    assert "\n" not in text
    assert "Check failed" not in text
    assert str(Path.cwd()) not in text  # no server paths in messages meant for users


# --- the real-world corpus (../shared/videos) ----------------------------------------------

CORPUS = {
    # file: (width, height, orientation, rotation, codec, stream_index)
    "nasa_13013.mp4": (480, 270, "horizontal", 0, "h264", 3),
    "av1_video.mkv": (640, 360, "horizontal", 0, "av1", 0),
    "bt709_full_range.mp4": (1280, 720, "horizontal", 0, "h264", 0),
    "h264_10bits.mp4": (200, 200, "square", 0, "h264", 0),
    "h265_10bits.mp4": (200, 200, "square", 0, "hevc", 0),
    "h265_video.mp4": (128, 128, "square", 0, "hevc", 0),
    "flipping_a_pancake.mkv": (426, 240, "horizontal", 0, "h264", 0),
    "corrupted.mp4": (1280, 720, "horizontal", 0, "h264", 0),
    "unordered.mov": (50, 50, "square", 0, "h264", 0),
    "video_0.mov": (568, 320, "horizontal", 0, "h264", 0),
    "video_90.mov": (320, 568, "vertical", 90, "h264", 0),
    "video_180.mov": (568, 320, "horizontal", 180, "h264", 0),
    "video_270.mov": (320, 568, "vertical", 270, "h264", 0),
}


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file(shared_videos: Path, name: str) -> None:
    width, height, orientation, rotation, codec, stream_index = CORPUS[name]
    info = probe_video(shared_videos / name)
    assert (info.width, info.height) == (width, height)
    assert info.orientation == orientation
    assert info.rotation == rotation
    assert info.codec == codec
    assert info.stream_index == stream_index
    assert info.duration_s > 0 and info.fps > 0 and info.frame_count > 0


@pytest.mark.corpus
def test_corpus_two_video_streams_picks_ffmpegs_best(shared_videos: Path) -> None:
    # Stream 0 is 320x180 at 25 fps, stream 3 480x270 at 29.97: FFmpeg's best (and decord's).
    info = probe_video(shared_videos / "nasa_13013.mp4")
    assert info.stream_index == 3
    assert info.frame_count == 390
    assert info.fps == pytest.approx(29.97, abs=0.01)
    assert info.has_audio is True


@pytest.mark.corpus
def test_corpus_audio_only(shared_videos: Path) -> None:
    with pytest.raises(NoVideoStreamError) as caught:
        probe_video(shared_videos / "nasa_13013.mp4.audio.mp3")
    _assert_one_clean_line(caught.value, "no video stream")


@pytest.mark.corpus
def test_corpus_matroska_frame_count_estimate(shared_videos: Path) -> None:
    info = probe_video(shared_videos / "flipping_a_pancake.mkv")
    assert info.has_audio is True
    assert abs(info.frame_count - 310) <= 2  # no count in the header: 10.38 s x 30 fps


# --- still pictures in any container ---------------------------------------------------------


@pytest.mark.parametrize(("name", "frames"), [("one.gif", 1), ("one.webp", 1), ("anim.webp", 3)])
def test_still_pictures_refused_at_probe(media: Path, name: str, frames: int) -> None:
    path = make_animation(media / name, frames)
    with pytest.raises(NotAVideoError) as caught:
        probe_video(path)
    _assert_one_clean_line(caught.value, "still image (")
    if name == "anim.webp":
        assert "animated WebP is not supported, convert it to MP4" in str(caught.value)


def test_one_frame_video_refused_at_probe(media: Path) -> None:
    path = make_video(media / "single.mp4", width=64, height=64, duration_s=1 / 30)
    with pytest.raises(NotAVideoError) as caught:
        probe_video(path)
    _assert_one_clean_line(caught.value, "still image (h264, a single frame), not a video")


def test_animated_gif_probes_as_a_video(media: Path) -> None:
    info = probe_video(make_animation(media / "anim.gif", 12))
    assert (info.codec, info.frame_count, info.width, info.height) == ("gif", 12, 120, 96)
    assert info.duration_s == pytest.approx(1.2)
