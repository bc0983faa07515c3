"""Sampling 16 frames of a 60 s 720x1280 H.264 portrait video: ours against the obvious ways.

Every method takes the same 16 frames (segment centres) and ends with 224x224 RGB
arrays, the BLIP-2 input size; each is timed from opening the file, medians of a
few runs, all in this run on this machine. Three encodings of the same pictures:
x264 "ultrafast" (what the tests generate: no B-frames, no CABAC, cheap to decode),
"superfast" (B-frames, CABAC, deblocking: closer to what phones upload), and
ultrafast with a keyframe only every 10 s, where seeking to each frame costs most.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzers.sampling import sample_frames, target_times  # noqa: E402
from tests.media import make_video, read_frame_number  # noqa: E402

SIZE = (224, 224)
FRAMES = 16
DURATION_S, FPS = 60, 30
Method = Callable[[Path], list[np.ndarray]]


def ours(path: Path) -> list[np.ndarray]:
    return sample_frames(path, num_frames=FRAMES, size=SIZE).images


def ours_pyav(path: Path) -> list[np.ndarray]:
    return sample_frames(path, num_frames=FRAMES, size=SIZE, decoder="pyav").images


def _indices() -> list[int]:
    return [int(t * FPS) for t in target_times(DURATION_S, FRAMES)]


def decord_resize_while_decoding(path: Path) -> list[np.ndarray]:
    import decord

    reader = decord.VideoReader(str(path), width=SIZE[0], height=SIZE[1])
    return list(reader.get_batch(_indices()).asnumpy())


def decord_full_then_pil(path: Path) -> list[np.ndarray]:
    import decord

    batch = decord.VideoReader(str(path)).get_batch(_indices()).asnumpy()
    return [np.asarray(Image.fromarray(f).resize(SIZE, Image.Resampling.BILINEAR)) for f in batch]


def pyav_every_frame(path: Path) -> list[np.ndarray]:
    wanted = set(_indices())
    images = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted:
                images.append(frame.to_ndarray(format="rgb24", width=SIZE[0], height=SIZE[1]))
    return images


def pyav_seek_each_frame(path: Path) -> list[np.ndarray]:
    images = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index in _indices():
            container.seek(round(index / FPS / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.time >= index / FPS - 1e-3:
                    images.append(frame.to_ndarray(format="rgb24", width=SIZE[0], height=SIZE[1]))
                    break
    return images


METHODS: list[tuple[str, Method]] = [
    ("ours: sample_frames, auto (decord) 224x224", ours),
    ("ours: sample_frames, decoder=pyav", ours_pyav),
    ("decord get_batch, resize while decoding", decord_resize_while_decoding),
    ("decord get_batch full size + PIL resize", decord_full_then_pil),
    ("PyAV seek to each frame", pyav_seek_each_frame),
    ("PyAV decode every frame, keep 16", pyav_every_frame),
]


def _median_time(method: Method, path: Path, repeats: int) -> tuple[float, float, list[int]]:
    walls, cpus, numbers = [], [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        images = method(path)
        walls.append(time.perf_counter() - wall)
        # CPU time of every thread in the process: steadier than wall time on a shared box.
        cpus.append(time.process_time() - cpu)
        numbers = [read_frame_number(img) for img in images]
    return statistics.median(walls), statistics.median(cpus), numbers


def run(path: Path, title: str, repeats: int) -> None:
    print(f"\n## {title}")
    print(f"{'method':<46}{'wall s':>8}{'x ours':>8}{'cpu s':>8}{'x ours':>8}  frames right")
    expected = _indices()
    base_wall = base_cpu = 0.0
    for name, method in METHODS:
        wall, cpu, numbers = _median_time(method, path, repeats)
        base_wall, base_cpu = base_wall or wall, base_cpu or cpu
        right = "yes" if numbers == expected else f"NO {numbers}"
        print(
            f"{name:<46}{wall:>8.3f}{wall / base_wall:>8.2f}{cpu:>8.3f}{cpu / base_cpu:>8.2f}"
            f"  {right}",
            flush=True,
        )


def main(repeats: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for preset, keyint_s in (("ultrafast", 2.0), ("superfast", 2.0), ("ultrafast", 10.0)):
            started = time.perf_counter()
            path = make_video(
                Path(tmp) / f"portrait_60s_{preset}_{keyint_s:g}.mp4",
                width=720, height=1280, duration_s=DURATION_S, fps=FPS, preset=preset,
                keyint_s=keyint_s,
            )  # fmt: skip
            made = time.perf_counter() - started
            run(
                path,
                f"16 frames of 60 s 720x1280 H.264 x264 {preset}, keyframe every {keyint_s:g} s "
                f"(encoded in {made:.1f} s), median of {repeats}",
                repeats,
            )


if __name__ == "__main__":
    main()
