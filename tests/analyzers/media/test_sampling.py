"""sample_frames with the real decord and PyAV on generated videos and on the corpus.

Generated frames carry their frame number (analyzers.testing.clips.read_frame_number), so
each test checks that the picture returned is the one at the timestamp given.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from analyzers.errors import (
    AnalyzerError,
    DecodeTimeoutError,
    EmptyFileError,
    InvalidOptionError,
    NoDecodableFramesError,
    NotAVideoError,
    NoVideoStreamError,
    VideoTooLongError,
)
from analyzers.media.decord_frames import DecoderUnavailable, decode_with_decord
from analyzers.media.frame_table import FrameTable, index_frames
from analyzers.media.pyav_frames import plan_threads
from analyzers.media.sampling import (
    Decoder,
    SampledFrames,
    pick_frames,
    sample_frames,
    stuck_decoder_threads,
    target_times,
)
from analyzers.testing.clips import (
    make_animation,
    make_audio_only,
    make_damaged_video,
    make_empty_file,
    make_image_file,
    make_text_file,
    make_truncated_video,
    make_video,
    read_frame_number,
)

BLIP2_SIZE = (224, 224)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sampling-media")


@pytest.fixture(scope="module")
def small_portrait(media: Path) -> Path:
    """10 s 320x576 portrait: cheap to damage and to decode many times."""
    return make_video(media / "small.mp4", width=320, height=576, duration_s=10, fps=30)


@pytest.fixture
def no_decord(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on aarch64, where decord has no wheel: `import decord` fails."""
    monkeypatch.setitem(sys.modules, "decord", None)


def assert_well_formed(result: SampledFrames, rotation: int = 0, fps: float = 30.0) -> None:
    """Timestamps increase inside the video, and each image is the frame at its timestamp."""
    times = result.timestamps
    assert len(result.images) == len(times) > 0
    assert all(b > a for a, b in zip(times, times[1:], strict=False))
    assert times[0] >= 0 and times[-1] <= result.video.duration_s
    assert result.video.decoder in ("decord", "pyav")
    for image, ts in zip(result.images, times, strict=True):
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert image.flags["C_CONTIGUOUS"]
        assert read_frame_number(image, rotation) == round(ts * fps)


# --- sampling positions ---------------------------------------------------------------------


def test_targets_are_segment_centres() -> None:
    assert target_times(8.0, 4) == [1.0, 3.0, 5.0, 7.0]


def test_pick_frames_takes_the_frame_on_screen_and_never_repeats() -> None:
    times = [0.0, 0.5, 1.0, 1.5]
    assert pick_frames(times, [0.2, 0.7, 1.9]) == [0, 1, 3]
    assert pick_frames(times, [0.1, 0.2, 0.3, 1.2]) == [0, 2]
    # A broken file with two frames at one time: one of them, so timestamps still increase.
    assert pick_frames([0.0, 0.5, 0.5, 1.0], [0.4, 0.6, 0.7, 1.1]) == [0, 2, 3]


# --- the TikTok-shaped video ----------------------------------------------------------------


@pytest.mark.parametrize("decoder", ["decord", "pyav"])
def test_portrait_uniform_16_at_blip2_size(portrait_video: Path, decoder: Decoder) -> None:
    started = time.perf_counter()
    result = sample_frames(portrait_video, num_frames=16, size=BLIP2_SIZE, decoder=decoder)
    elapsed = time.perf_counter() - started
    assert result.video.decoder == decoder
    assert [img.shape for img in result.images] == [(224, 224, 3)] * 16
    assert_well_formed(result)
    # Segment centres of 30 s / 16: 0.94 s, 2.81 s ... 29.06 s, each the frame on screen then.
    expected = [int(t * 30) / 30 for t in target_times(30.0, 16)]
    assert result.timestamps == pytest.approx(expected, abs=1e-3)
    assert result.warnings == []
    assert (result.video.width, result.video.height) == (720, 1280)
    assert elapsed < 5.0  # about 0.2 s here; generous for a busy 2-core CI box


def test_both_decoders_return_the_same_pictures(portrait_video: Path) -> None:
    a = sample_frames(portrait_video, num_frames=6, size=BLIP2_SIZE, decoder="decord")
    b = sample_frames(portrait_video, num_frames=6, size=BLIP2_SIZE, decoder="pyav")
    assert a.timestamps == pytest.approx(b.timestamps, abs=1e-3)
    for x, y in zip(a.images, b.images, strict=True):
        assert np.abs(x.astype(int) - y.astype(int)).mean() < 6  # scalers differ slightly


def test_full_size_and_display_size_semantics(portrait_video: Path) -> None:
    full = sample_frames(portrait_video, num_frames=2)
    assert [img.shape for img in full.images] == [(1280, 720, 3)] * 2
    assert_well_formed(full)
    for decoder in ("decord", "pyav"):
        small = sample_frames(portrait_video, num_frames=2, size=(90, 160), decoder=decoder)
        assert [img.shape for img in small.images] == [(160, 90, 3)] * 2


def test_by_fps_clamped(portrait_video: Path) -> None:
    half_hz = sample_frames(portrait_video, fps=0.5, size=BLIP2_SIZE)
    assert len(half_hz.images) == 15
    assert half_hz.timestamps[0] == pytest.approx(1.0, abs=0.04)
    assert_well_formed(half_hz)
    assert len(sample_frames(portrait_video, fps=10, max_frames=20, size=BLIP2_SIZE).images) == 20
    assert len(sample_frames(portrait_video, fps=0.01, min_frames=3, size=BLIP2_SIZE).images) == 3


def test_too_long(portrait_video: Path) -> None:
    with pytest.raises(VideoTooLongError) as caught:
        sample_frames(portrait_video, max_duration_s=10)
    assert str(caught.value) == "the video is 30.0 s long; the limit is 10 s"


def test_timeout_stops_decoding_and_the_thread_winds_down(portrait_video: Path) -> None:
    # Decoding 64 full-size frames takes far longer than 10 ms on any machine.
    with pytest.raises(DecodeTimeoutError) as caught:
        sample_frames(portrait_video, num_frames=64, timeout_s=0.01)
    assert str(caught.value) == "decoding took longer than 0.01 s and was stopped"
    deadline = time.monotonic() + 10
    while stuck_decoder_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stuck_decoder_threads() == 0, "the cancelled decode did not stop"
    assert not [t for t in threading.enumerate() if t.name == "tiktok-analyzer-decode"]


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"num_frames": 0}, "frames must be between 1 and 64"),
        ({"num_frames": 65}, "frames must be between 1 and 64"),
        ({"fps": -1.0}, "fps must be above 0"),
        ({"size": (0, 10)}, "size must be (width, height)"),
        ({"timeout_s": 0}, "timeout_s must be above 0"),
        ({"decoder": "opencv"}, "decoder must be auto, decord or pyav"),
    ],
)
def test_bad_options(portrait_video: Path, options: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidOptionError, match=words.replace("(", r"\(").replace(")", r"\)")):
        sample_frames(portrait_video, **options)


# --- decoder fallback -----------------------------------------------------------------------


@pytest.mark.usefixtures("no_decord")
def test_without_decord_pyav_serves(small_portrait: Path) -> None:
    result = sample_frames(small_portrait, num_frames=8, size=BLIP2_SIZE)
    assert result.video.decoder == "pyav"
    assert len(result.images) == 8
    assert_well_formed(result)
    with pytest.raises(InvalidOptionError, match="decoder 'decord' is not installed"):
        sample_frames(small_portrait, decoder="decord")


def test_av1_falls_back_to_pyav(media: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = make_video(media / "av1.mkv", width=320, height=192, duration_s=2, codec="libsvtav1")
    capfd.readouterr()
    result = sample_frames(path, num_frames=8, size=BLIP2_SIZE)
    assert "Check failed" not in capfd.readouterr().err  # not even on the process's stderr
    assert (result.video.decoder, result.video.codec) == ("pyav", "av1")
    assert len(result.images) == 8
    assert_well_formed(result)
    with pytest.raises(NoDecodableFramesError) as caught:
        sample_frames(path, decoder="decord")
    assert "decord cannot decode this av1 video" in str(caught.value)
    assert "Check failed" not in str(caught.value)


@pytest.mark.parametrize("decoder", ["auto", "decord"])
def test_vp9(media: Path, decoder: Decoder) -> None:
    path = media / "vp9.webm"
    if not path.exists():
        make_video(path, width=320, height=180, duration_s=2, codec="libvpx-vp9", audio=True)
    result = sample_frames(path, num_frames=8, size=BLIP2_SIZE, decoder=decoder)
    assert result.video.decoder == ("pyav" if decoder == "auto" else "decord")
    assert result.video.codec == "vp9"
    assert_well_formed(result)


def test_decord_refused_when_its_frames_differ_from_the_file(small_portrait: Path) -> None:
    # What an over-reported frame count (or another stream) looks like to the check:
    # decord's frame list is not the one the demuxer found in the file.
    table = index_frames(small_portrait, 0, 30.0, threading.Event())
    short = FrameTable(times=table.times[:-30], keyframes=table.keyframes, complete=True)
    with pytest.raises(DecoderUnavailable, match="decord sees 300 frames, the stream has 270"):
        decode_with_decord(small_portrait, short, [0, 100], None, threading.Event())
    # Same count, other clock: like nasa_13013.mp4's 25 fps stream beside its 29.97 fps one.
    other_rate = FrameTable(times=[i / 25 for i in range(300)], keyframes=[], complete=True)
    with pytest.raises(DecoderUnavailable, match="at another time"):
        decode_with_decord(small_portrait, other_rate, [0, 100], None, threading.Event())


def test_raw_stream_without_timestamps(media: Path) -> None:
    # An elementary .h264 stream has no container: no timestamps, duration or frame count.
    path = make_video(media / "raw.h264", width=160, height=288, duration_s=3)
    result = sample_frames(path, num_frames=8)
    assert result.video.decoder == "pyav"
    assert result.video.duration_s == pytest.approx(3.0)
    assert result.video.frame_count == 90
    assert_well_formed(result)
    with pytest.raises(VideoTooLongError, match="the video is 3.0 s long; the limit is 2 s"):
        sample_frames(path, max_duration_s=2)


# --- rotation -------------------------------------------------------------------------------


@pytest.mark.parametrize("rotation", [90, 180, 270])
@pytest.mark.parametrize("decoder", ["decord", "pyav"])
def test_rotation_applied(media: Path, rotation: int, decoder: Decoder) -> None:
    # A phone's portrait clip: stored 320x180 landscape, rotation in the metadata.
    path = media / f"rot{rotation}.mp4"
    if not path.exists():
        make_video(path, width=320, height=180, duration_s=1, rotation=rotation)
    turned = rotation in (90, 270)
    full = sample_frames(path, num_frames=4, decoder=decoder)
    assert full.images[0].shape == ((320, 180, 3) if turned else (180, 320, 3))
    assert full.video.orientation == ("vertical" if turned else "horizontal")
    # read_frame_number undoes exactly `rotation`: a wrong turn or a mirror reads garbage.
    assert_well_formed(full, rotation)
    small = sample_frames(path, num_frames=4, size=(90, 160), decoder=decoder)
    assert small.images[0].shape == (160, 90, 3)
    if turned:
        assert_well_formed(small, rotation)


# --- short, cut and damaged files -----------------------------------------------------------


def test_fewer_frames_than_asked(media: Path) -> None:
    path = make_video(media / "five.mp4", width=64, height=64, duration_s=0.5, fps=10)
    result = sample_frames(path, num_frames=16)
    assert len(result.images) == 5
    assert result.warnings == ["the video has only 5 frames: sampled 5 of 16"]
    assert_well_formed(result, fps=10)


@pytest.mark.parametrize("decoder", ["auto", "pyav"])
def test_truncated_file_samples_the_part_that_is_there(
    media: Path, small_portrait: Path, decoder: Decoder
) -> None:
    cut = make_truncated_video(small_portrait, media / "cut.mp4", keep=0.5)
    result = sample_frames(cut, num_frames=8, size=BLIP2_SIZE, decoder=decoder)
    assert result.video.decoder == "pyav"  # decord cannot even open it
    assert len(result.images) == 8
    assert_well_formed(result)
    assert result.timestamps[-1] < 6.0
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("the file is incomplete: only ")
    assert "of its 10.0 s could be read" in result.warnings[0]


def test_damaged_middle_gives_a_partial_result(media: Path, small_portrait: Path) -> None:
    path = make_damaged_video(small_portrait, media / "holed.mp4", start=0.4, end=0.6)
    result = sample_frames(path, num_frames=16, size=BLIP2_SIZE)
    assert result.video.decoder == "pyav"
    assert 8 <= len(result.images) < 16
    assert_well_formed(result)  # the frames returned are still the ones at their timestamps
    assert result.warnings[0].startswith("the video is damaged: ")
    assert result.warnings[1] == (
        f"only {len(result.images)} of 16 sampled frames could be decoded; "
        "the damaged parts of the video are not described"
    )
    assert not any("Check failed" in w for w in result.warnings)


def test_nothing_decodable(media: Path, small_portrait: Path) -> None:
    path = make_damaged_video(small_portrait, media / "noise.mp4", start=0.0, end=1.0)
    with pytest.raises(NoDecodableFramesError) as caught:
        sample_frames(path)
    assert str(caught.value) == (
        "not one frame of the h264 video could be decoded; the file is damaged"
    )


@pytest.mark.parametrize(
    ("maker", "error", "words"),
    [
        (make_empty_file, EmptyFileError, "the file is empty (0 bytes)"),
        (make_text_file, NotAVideoError, "not a video"),
        (make_image_file, NotAVideoError, "still image (png), not a video"),
        (make_audio_only, NoVideoStreamError, "no video stream"),
    ],
)
def test_bad_inputs(
    media: Path, maker: Callable[[Path], object], error: type[AnalyzerError], words: str
) -> None:
    path = media / f"bad-{error.__name__}.mp4"
    maker(path)
    with pytest.raises(error) as caught:
        sample_frames(path)
    assert words in str(caught.value)
    assert "Check failed" not in str(caught.value)


# --- the right frames, planned on the GOP structure ------------------------------------------


@pytest.fixture(scope="module")
def gop_videos(media: Path) -> dict[str, Path]:
    """B-frames with a keyframe every 2 s (seek per target) and every 10 s (one long run)."""
    return {
        "bframes_kf2": make_video(
            media / "bframes_kf2.mp4", width=192, height=336, duration_s=12, preset="superfast"
        ),
        "pframes_kf10": make_video(
            media / "pframes_kf10.mp4", width=192, height=336, duration_s=12, keyint_s=10
        ),
        "hevc_kf2": make_video(
            media / "hevc_kf2.mp4", width=192, height=336, duration_s=6, codec="libx265",
            preset="superfast",
        ),
    }  # fmt: skip


def on_screen(path: Path, moments: list[float]) -> list[tuple[float, int]]:
    """(time, frame number) of the frame on screen at each moment, from one full decode."""
    # The reference decodes every frame from the start: no seek, no plan, no skipping.
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = float(stream.start_time * stream.time_base)  # times count from the first frame
        decoded = [
            (float(frame.time) - start, read_frame_number(frame.to_ndarray(format="rgb24")))
            for frame in container.decode(stream)
        ]
    return [[f for f in decoded if f[0] <= moment + 1e-6][-1] for moment in moments]


@pytest.mark.parametrize("name", ["bframes_kf2", "pframes_kf10", "hevc_kf2"])
@pytest.mark.parametrize(("frames", "threads"), [(16, None), (16, 1), (40, 3)])
def test_frames_are_the_ones_on_screen_at_the_targets(
    gop_videos: dict[str, Path], name: str, frames: int, threads: int | None
) -> None:
    # One thread or frame threads, seeks or one run, B-frames skipped or not, drained after
    # each target or decoded on: every path must end on the frame on screen at the target.
    path = gop_videos[name]
    result = sample_frames(path, num_frames=frames, size=(96, 168), threads=threads)
    duration = result.video.duration_s
    expected = on_screen(path, target_times(duration, frames))
    assert [(round(t, 3), read_frame_number(img)) for t, img in zip(
        result.timestamps, result.images, strict=True
    )] == [(round(t, 3), n) for t, n in expected]  # fmt: skip
    assert result.warnings == []


def test_threads_follow_the_gop_structure() -> None:
    # 30 fps for 60 s: a keyframe every 2 s, 16 targets 3.75 s apart: a seek each, short runs.
    times = [i / 30 for i in range(1800)]
    short_gops = FrameTable(times=times, keyframes=times[::60], complete=True)
    targets = pick_frames(times, target_times(60.0, 16))
    assert plan_threads(short_gops, targets, cores=2, codec="h264") == 1
    # ... except for VP9, whose frames cost more to decode than the pipeline refill.
    assert plan_threads(short_gops, targets, cores=2, codec="vp9") == 3
    # A keyframe every 10 s: runs of 150 frames and more: frame threads, cores + 1.
    long_gops = FrameTable(times=times, keyframes=times[::300], complete=True)
    assert plan_threads(long_gops, targets, cores=2, codec="h264") == 3
    assert plan_threads(long_gops, targets, cores=1, codec="h264") == 1


# --- keyframe seeking and explicit times ------------------------------------------------------


@pytest.mark.parametrize("decoder", ["auto", "decord"])
def test_keyframe_seek_takes_the_nearest_keyframe(
    gop_videos: dict[str, Path], decoder: Decoder
) -> None:
    path = gop_videos["bframes_kf2"]
    exact = sample_frames(path, num_frames=6, size=(96, 168))
    keyed = sample_frames(path, num_frames=6, size=(96, 168), seek="keyframe", decoder=decoder)
    with av.open(str(path)) as container:
        keyframes = [float(p.pts * p.time_base) for p in container.demux(video=0) if p.is_keyframe]
    assert len(keyed.images) == 6
    assert_well_formed(keyed)  # each picture is the frame at its reported time
    targets = target_times(exact.video.duration_s, 6)
    for moment, target in zip(keyed.timestamps, targets, strict=True):
        nearest = min(keyframes, key=lambda k: abs(k - target))
        assert moment == pytest.approx(nearest, abs=1e-3)
    assert keyed.timestamps != exact.timestamps  # real times are reported, not the targets


def test_keyframe_seek_decodes_exactly_where_no_keyframe_is_near(
    gop_videos: dict[str, Path],
) -> None:
    # Keyframes at 0 s and 10 s only, 8 targets 1.5 s apart: a keyframe serves the target
    # whose share of the video it lies in; the other six targets get their exact frames.
    path = gop_videos["pframes_kf10"]
    keyed = sample_frames(path, num_frames=8, seek="keyframe", size=(96, 168))
    exact = sample_frames(path, num_frames=8, size=(96, 168))
    assert_well_formed(keyed)
    assert keyed.timestamps[0] == pytest.approx(0.0)
    assert keyed.timestamps[6] == pytest.approx(10.0)
    others = [t for n, t in enumerate(keyed.timestamps) if n not in (0, 6)]
    assert others == pytest.approx([t for n, t in enumerate(exact.timestamps) if n not in (0, 6)])
    assert keyed.warnings == []


def test_explicit_times_sorted_clamped_and_exact(small_portrait: Path) -> None:
    # Shot detection hands over shot middles, in any order, possibly past either end.
    result = sample_frames(small_portrait, times=[7.25, 0.5, -3.0, 99.0, 0.51], size=BLIP2_SIZE)
    # 0.5 and 0.51 fall in one frame: it is returned once.
    assert [read_frame_number(img) for img in result.images] == [0, 15, 217, 299]
    assert result.timestamps == pytest.approx([0.0, 0.5, 217 / 30, 299 / 30], abs=1e-3)
    assert_well_formed(result)
    assert result.warnings == []
    # Keyframes every 2 s: 2.9 s takes the one at 2 s, 7.1 s the one at 8 s (nearest in its
    # share of the video, which runs halfway to the other time).
    keyed = sample_frames(small_portrait, times=[2.9, 7.1], seek="keyframe")
    assert keyed.timestamps == pytest.approx([2.0, 8.0])


def test_explicit_times_guard(small_portrait: Path) -> None:
    with pytest.raises(InvalidOptionError, match="times must be 1 to 64 finite numbers"):
        sample_frames(small_portrait, times=[])
    with pytest.raises(InvalidOptionError, match="times must be 1 to 64 finite numbers"):
        sample_frames(small_portrait, times=[1.0, float("nan")])


# --- still pictures and animations ------------------------------------------------------------


@pytest.mark.parametrize("name", ["one.gif", "one.webp", "anim.webp"])
def test_still_pictures_are_not_videos(media: Path, name: str) -> None:
    # A one-frame GIF opens as a "video" of one frame; WebP, animated or not, is a picture
    # FFmpeg reads one frame of (it cannot decode animated WebP).
    path = make_animation(media / name, 1 if name.startswith("one") else 4)
    with pytest.raises(NotAVideoError, match=r"still image \((gif|webp)"):
        sample_frames(path)


def test_one_frame_mp4_is_a_still_picture(media: Path) -> None:
    path = make_video(media / "one_frame.mp4", width=64, height=64, duration_s=1 / 30)
    with pytest.raises(NotAVideoError, match=r"still image \(h264, a single frame\), not a video"):
        sample_frames(path)


def test_animated_gif_is_a_short_video(media: Path) -> None:
    path = make_animation(media / "anim.gif", 12)
    result = sample_frames(path, num_frames=4)
    assert (result.video.codec, result.video.decoder) == ("gif", "pyav")
    assert result.video.duration_s == pytest.approx(1.2)
    assert [read_frame_number(img) for img in result.images] == [1, 4, 7, 10]
    assert result.timestamps == pytest.approx([0.1, 0.4, 0.7, 1.0])


# --- the real-world corpus (../shared/videos) ----------------------------------------------

VIDEOS = [
    "av1_video.mkv", "bt709_full_range.mp4", "corrupted.mp4", "flipping_a_pancake.mkv",
    "h264_10bits.mp4", "h265_10bits.mp4", "h265_video.mp4", "nasa_13013.mp4", "unordered.mov",
    "video_0.mov", "video_90.mov", "video_180.mov", "video_270.mov",
]  # fmt: skip


@pytest.mark.corpus
@pytest.mark.parametrize("name", VIDEOS)
@pytest.mark.parametrize("decoder", ["auto", "pyav"])
def test_corpus_every_file(shared_videos: Path, name: str, decoder: Decoder) -> None:
    result = sample_frames(shared_videos / name, num_frames=16, size=BLIP2_SIZE, decoder=decoder)
    times = result.timestamps
    assert all(b > a for a, b in zip(times, times[1:], strict=False))
    assert times[0] >= 0 and times[-1] <= result.video.duration_s
    assert len(result.images) == min(16, result.video.frame_count)
    assert all(img.shape == (224, 224, 3) and img.dtype == np.uint8 for img in result.images)
    assert not any("Check failed" in w for w in result.warnings)


@pytest.mark.corpus
def test_corpus_decoders_used(shared_videos: Path) -> None:
    for name in ("av1_video.mkv", "corrupted.mp4", "nasa_13013.mp4"):
        assert sample_frames(shared_videos / name, num_frames=4).video.decoder == "pyav"
    forced = sample_frames(shared_videos / "nasa_13013.mp4", num_frames=4, decoder="decord")
    assert forced.video.decoder == "decord"


@pytest.mark.corpus
def test_corpus_two_streams_both_decoders_use_the_same_one(shared_videos: Path) -> None:
    path = shared_videos / "nasa_13013.mp4"
    by_decord = sample_frames(path, num_frames=8, decoder="decord")
    by_pyav = sample_frames(path, num_frames=8, decoder="pyav")
    for result in (by_decord, by_pyav):
        assert result.video.stream_index == 3
        assert result.images[0].shape == (270, 480, 3)  # the 480x270 stream, not the 320x180
    assert by_decord.timestamps == pytest.approx(by_pyav.timestamps, abs=1e-3)
    for a, b in zip(by_decord.images, by_pyav.images, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 4


@pytest.mark.corpus
def test_corpus_corrupted_is_a_partial_result_with_a_warning(shared_videos: Path) -> None:
    result = sample_frames(shared_videos / "corrupted.mp4", num_frames=16)
    assert result.video.decoder == "pyav"  # decord's get_batch raises on this file
    assert len(result.images) >= 8
    assert any(w.startswith("the video is damaged: ") for w in result.warnings)
    assert all(0 <= t <= result.video.duration_s for t in result.timestamps)


@pytest.mark.corpus
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_corpus_phone_rotation_same_picture_from_both(shared_videos: Path, rotation: int) -> None:
    path = shared_videos / f"video_{rotation}.mov"
    by_decord = sample_frames(path, num_frames=3, decoder="decord")
    by_pyav = sample_frames(path, num_frames=3, decoder="pyav")
    shape = (568, 320, 3) if rotation in (90, 270) else (320, 568, 3)
    assert by_decord.images[0].shape == by_pyav.images[0].shape == shape
    for a, b in zip(by_decord.images, by_pyav.images, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 4  # same turn, not a mirror


@pytest.mark.corpus
def test_corpus_audio_only(shared_videos: Path) -> None:
    with pytest.raises(NoVideoStreamError) as caught:
        sample_frames(shared_videos / "nasa_13013.mp4.audio.mp3")
    assert str(caught.value) == "the file has no video stream (it holds 1 audio stream)"
