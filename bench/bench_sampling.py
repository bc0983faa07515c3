"""Sampling frames of TikTok-shaped videos: ours against the other ways to get the same frames.

Every method takes the same frames (segment centres) and ends with 224x224 RGB
arrays, the BLIP-2 input size; each is timed from opening the file. Methods run
round-robin (one run of each, then again), so a change in the machine's load
hits them alike. ``wall s`` is each method's fastest run (the one other processes
disturbed least: on a shared machine the median mostly measures their load; the
median is printed beside it), ``x best`` = ours / the fastest other method of the
row (the goal: <= 1.00), ``cpu s`` its least CPU time (all threads), and whether
each method's pictures are the
right frames (the ones a plain seek to each target gives, told apart by the frame
number painted into every generated frame).

Rows: 60 s 720x1280 portrait H.264 x264 "ultrafast" (no B-frames, no CABAC: cheap
to decode) and "superfast" (B-frames, CABAC: closer to phone uploads) with a
keyframe every 2 s, ultrafast with one every 10 s (where a seek per frame costs
most), VP9, HEVC and AV1, a 3-minute portrait video, and 64 frames instead of 16.
Then ``seek="keyframe"`` against ``seek="exact"``: time ratio (goal <= 0.6) and
how far the keyframes are from the targets on average.

    python bench/bench_sampling.py [--repeats 7] [--videos DIR] [--only NAME]

``--videos DIR`` keeps the generated videos there between runs (encoding all rows
takes a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzers.media.sampling import sample_frames, target_times  # noqa: E402
from analyzers.testing.clips import CODE_BITS, make_video, read_frame_number  # noqa: E402

SIZE = (224, 224)
FPS = 30


@dataclass(frozen=True)
class Row:
    name: str
    file: str
    codec: str
    preset: str
    keyint_s: float
    duration_s: float
    frames: int = 16


H264, HEVC = "libx264", "libx265"
ROWS = [
    Row("H.264 ultrafast, keyframe every 2 s", "h264_ultrafast_kf2.mp4", H264, "ultrafast", 2, 60),
    Row("H.264 superfast, keyframe every 2 s", "h264_superfast_kf2.mp4", H264, "superfast", 2, 60),
    Row("H.264 ultrafast, keyframe every 10 s", "h264_ultra_kf10.mp4", H264, "ultrafast", 10, 60),
    Row("VP9 realtime, keyframe every 2 s", "vp9_kf2.webm", "libvpx-vp9", "", 2, 60),
    Row("HEVC x265 superfast, keyframe every 2 s", "hevc_kf2.mp4", HEVC, "superfast", 2, 60),
    Row("AV1 SVT preset 12, keyframe every 2 s", "av1_kf2.mkv", "libsvtav1", "", 2, 60),
    Row("3-minute H.264 superfast, kf every 2 s", "h264_superfast_kf2_180s.mp4", H264, "superfast",
        2, 180),
    Row("H.264 superfast, keyframe every 2 s", "h264_superfast_kf2.mp4", H264, "superfast", 2, 60,
        64),
]  # fmt: skip

Method = Callable[[Path, Row], list[np.ndarray]]


def _frame_indices(row: Row) -> list[int]:
    return [int(t * FPS + 1e-6) for t in target_times(row.duration_s, row.frames)]


def ours(path: Path, row: Row) -> list[np.ndarray]:
    return sample_frames(path, num_frames=row.frames, size=SIZE).images


def ours_decord(path: Path, row: Row) -> list[np.ndarray]:
    return sample_frames(path, num_frames=row.frames, size=SIZE, decoder="decord").images


def ours_pyav(path: Path, row: Row) -> list[np.ndarray]:
    return sample_frames(path, num_frames=row.frames, size=SIZE, decoder="pyav").images


def decord_get_batch(path: Path, row: Row) -> list[np.ndarray]:
    import decord

    reader = decord.VideoReader(str(path), width=SIZE[0], height=SIZE[1])
    return list(reader.get_batch(_frame_indices(row)).asnumpy())


def pyav_seek_each_target(path: Path, row: Row) -> list[np.ndarray]:
    images = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index in _frame_indices(row):
            wanted = index / FPS
            container.seek(round(wanted / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.time >= wanted - 1e-3:
                    images.append(frame.to_ndarray(format="rgb24", width=SIZE[0], height=SIZE[1]))
                    break
    return images


def pyav_sequential(path: Path, row: Row) -> list[np.ndarray]:
    wanted = _frame_indices(row)
    images = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if frame.time >= wanted[len(images)] / FPS - 1e-3:
                images.append(frame.to_ndarray(format="rgb24", width=SIZE[0], height=SIZE[1]))
                if len(images) == len(wanted):
                    break
    return images


OURS: list[tuple[str, Method]] = [
    ("ours: sample_frames (auto)", ours),
    ("ours, decoder=pyav", ours_pyav),
    ("ours, decoder=decord", ours_decord),
]
OTHERS: list[tuple[str, Method]] = [
    ("decord get_batch, resize while decoding", decord_get_batch),
    ("PyAV seek to each target", pyav_seek_each_target),
    ("PyAV sequential decode", pyav_sequential),
]


def _measure(
    methods: list[tuple[str, Method]], path: Path, row: Row, repeats: int
) -> dict[str, tuple[float, float, float, bool]]:
    """name -> (fastest wall s, median wall s, fastest CPU s, frames right), round-robin."""
    walls: dict[str, list[float]] = {name: [] for name, _ in methods}
    cpus: dict[str, list[float]] = {name: [] for name, _ in methods}
    right: dict[str, bool] = {}
    # The right pictures are the ones a plain seek to each target decodes. Their painted
    # numbers are the frame indices, except where a lossy encoder (AV1 at crf 45) blurred
    # the band: then the plain seek's reading is the reference.
    expected = [read_frame_number(img) for img in pyav_seek_each_target(path, row)]
    painted = [i % (1 << CODE_BITS) for i in _frame_indices(row)]
    if expected != painted:
        wrong = sum(a != b for a, b in zip(expected, painted, strict=True))
        print(f"  (the band of {wrong} frame(s) reads wrong even from a plain seek: compared)")
    for _ in range(repeats):
        for name, method in methods:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                images = method(path, row)
            except Exception as err:  # a method that cannot read the file says so, once
                if name not in right:
                    print(f"  {name}: {type(err).__name__}: {str(err)[-90:]}", flush=True)
                walls[name].append(float("nan"))
                cpus[name].append(float("nan"))
                right[name] = False
                continue
            walls[name].append(time.perf_counter() - wall)
            # CPU time of every thread in the process: steadier than wall time on a shared box.
            cpus[name].append(time.process_time() - cpu)
            right[name] = [read_frame_number(img) for img in images] == expected
    return {
        name: (min(walls[name]), statistics.median(walls[name]), min(cpus[name]), right[name])
        for name, _ in methods
    }


def run_row(path: Path, row: Row, repeats: int) -> float:
    """Print one row's table; return ours / fastest other (fastest wall of each)."""
    print(f"\n## {row.frames} frames, {row.name} ({row.duration_s:g} s 720x1280)")
    results = _measure(OURS + OTHERS, path, row, repeats)
    best_other = min(
        (results[name][0] for name, _ in OTHERS if results[name][3]), default=float("nan")
    )
    print(f"{'method':<42}{'wall s':>8}{'x best':>8}{'median':>8}{'cpu s':>8}  frames right")
    for name, (wall, median, cpu, ok) in results.items():
        print(
            f"{name:<42}{wall:>8.3f}{wall / best_other:>8.2f}{median:>8.3f}{cpu:>8.3f}"
            f"  {'yes' if ok else 'NO'}"
        )
    return results[OURS[0][0]][0] / best_other


def run_keyframe(path: Path, row: Row, repeats: int) -> tuple[float, float]:
    """seek="keyframe" vs "exact": (time ratio, mean shift from the exact frames in s)."""
    exact_times = sample_frames(path, num_frames=row.frames, size=SIZE).timestamps
    key_times = sample_frames(path, num_frames=row.frames, size=SIZE, seek="keyframe").timestamps

    def exact(p: Path, r: Row) -> list[np.ndarray]:
        return sample_frames(p, num_frames=r.frames, size=SIZE).images

    def keyframe(p: Path, r: Row) -> list[np.ndarray]:
        return sample_frames(p, num_frames=r.frames, size=SIZE, seek="keyframe").images

    walls: dict[str, list[float]] = {"exact": [], "keyframe": []}
    for _ in range(repeats):
        for name, method in (("exact", exact), ("keyframe", keyframe)):
            started = time.perf_counter()
            method(path, row)
            walls[name].append(time.perf_counter() - started)
    ratio = min(walls["keyframe"]) / min(walls["exact"])
    targets = target_times(row.duration_s, row.frames)
    shift = statistics.mean(min(abs(k - t) for k in key_times) for t in targets)
    exact_shift = statistics.mean(min(abs(k - t) for k in exact_times) for t in targets)
    print(
        f"{row.name:<48}{min(walls['exact']):>8.3f}"
        f"{min(walls['keyframe']):>8.3f}{ratio:>8.2f}"
        f"{len(key_times):>6}{shift:>10.3f}{exact_shift:>10.3f}",
        flush=True,
    )
    return ratio, shift


def _video(folder: Path, row: Row) -> Path:
    path = folder / row.file
    if not path.exists():
        started = time.perf_counter()
        av.logging.set_level(av.logging.ERROR)  # x265 and SVT-AV1 chat on stderr
        make_video(
            path.with_suffix(".part" + path.suffix), width=720, height=1280,
            duration_s=row.duration_s, fps=FPS, codec=row.codec, preset=row.preset or "ultrafast",
            keyint_s=row.keyint_s,
        ).rename(path)  # fmt: skip
        print(f"(encoded {row.file} in {time.perf_counter() - started:.1f} s)", flush=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--videos", type=Path, help="keep the generated videos in this folder")
    parser.add_argument("--only", help="rows whose name contains this text")
    args = parser.parse_args()
    rows = [r for r in ROWS if not args.only or args.only.lower() in r.name.lower()]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.videos or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        paths = [_video(folder, row) for row in rows]
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        ratios = [run_row(path, row, args.repeats) for path, row in zip(paths, rows, strict=True)]
        print(f"\nload average after rows: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("\n## seek=keyframe vs seek=exact (goal: ratio <= 0.60)")
        print(f"{'video':<48}{'exact s':>8}{'key s':>8}{'ratio':>8}{'frames':>6}"
              f"{'shift s':>10}{'(exact)':>10}")  # fmt: skip
        for path, row in zip(paths, rows, strict=True):
            run_keyframe(path, row, args.repeats)
        print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("ours / fastest other per row: " + ", ".join(f"{r:.2f}" for r in ratios))


if __name__ == "__main__":
    main()
