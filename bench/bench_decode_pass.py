"""Benchmark: the CPU side of one analysis against one plain decode of the same file.

The target: what ``timings.decode_s`` covers (probe, shots, sampled frames, keyframe
JPEGs, audio decode) costs at most 2x one plain PyAV decode of every video and audio
frame. For each file, side by side in one run (interleaved, best of REPEATS each):

- plain: open the file, decode every packet of the video and the audio stream, nothing else;
- analysis: the probe intake makes, then what a worker runs before the model
  (``Engine.prepare`` with the job's probe: one pass for shots, frames and audio, then the
  model's preprocessing and the keyframe JPEGs), with the tiny BLIP-2 (its preprocessing
  is the real processor's) and shots, keyframes and transcription on; OCR and Whisper are
  models, counted apart, and are off here.

Files: generated with PyAV here (720x1280 30 fps H.264 with cuts and AAC audio, 1080x1920
60 fps H.264, 720x1280 HEVC) and the ../shared/videos corpus when present.

Run from the repository root: ``python bench/bench_decode_pass.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import av  # noqa: E402
import numpy as np  # noqa: E402

from analyzers.base import AnalyzerConfig  # noqa: E402
from analyzers.engine import Engine  # noqa: E402
from analyzers.media.probe import probe_video  # noqa: E402
from analyzers.stages import StagesConfig  # noqa: E402
from api.settings import Settings  # noqa: E402

REPEATS = 5
CORPUS = ROOT.parent / "shared" / "videos"
#: corpus files that are not videos to analyse (audio only, a deliberately broken index)
SKIP = {"nasa_13013.mp4.audio.mp3", "unordered.mov", "README.md"}


@dataclass(frozen=True)
class Clip:
    name: str
    width: int
    height: int
    fps: int
    seconds: float
    codec: str
    audio: bool


CLIPS = (
    Clip("720x1280_30fps_h264_aac_cuts.mp4", 720, 1280, 30, 15.0, "libx264", True),
    Clip("1080x1920_60fps_h264_aac.mp4", 1080, 1920, 60, 8.0, "libx264", True),
    Clip("720x1280_30fps_hevc.mp4", 720, 1280, 30, 8.0, "libx265", False),
)


def _picture(clip: Clip, index: int, shot: int) -> np.ndarray:
    """A yuv420p picture: a gradient that moves, its colours changing at every cut."""
    h, w = clip.height, clip.width
    rng = np.random.default_rng(shot)
    base = rng.integers(30, 200, 3)
    x = (np.arange(w) + index * 6) % w
    y = (np.arange(h) + index * 3) % h
    luma = (base[0] + (x[None, :] * 60 // w) + (y[:, None] * 40 // h)).astype(np.uint8)
    u = np.full((h // 2, w // 2), base[1], np.uint8)
    v = np.full((h // 2, w // 2), base[2], np.uint8)
    return np.concatenate([luma, u.reshape(h // 4, w), v.reshape(h // 4, w)])


def make_clip(clip: Clip, folder: Path) -> Path:
    """Encode ``clip`` (a cut every 2.5 s, a tone with pauses for audio) with PyAV."""
    path = folder / clip.name
    total = round(clip.seconds * clip.fps)
    with av.open(str(path), mode="w") as out:
        video = out.add_stream(clip.codec, rate=clip.fps)
        video.width, video.height, video.pix_fmt = clip.width, clip.height, "yuv420p"
        video.gop_size = 2 * clip.fps  # a keyframe every 2 s, as phones write
        video.options = {"preset": "veryfast"} if clip.codec == "libx264" else {}
        if clip.codec == "libx265":
            video.options = {"preset": "ultrafast", "x265-params": "log-level=error"}
        audio = out.add_stream("aac", rate=44100) if clip.audio else None
        for index in range(total):
            shot = int(index / clip.fps / 2.5)
            frame = av.VideoFrame.from_ndarray(_picture(clip, index, shot), format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, clip.fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None:
            _write_audio(out, audio, clip.seconds)
    return path


def _write_audio(out: av.container.OutputContainer, stream: av.AudioStream, seconds: float) -> None:
    rate, step = 44100, 1024
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)
    samples = wave.astype(np.float32)
    for start in range(0, len(samples), step):
        chunk = samples[start : start + step]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def plain_decode(path: Path) -> float:
    """Seconds to decode every video and audio frame of ``path`` (frame threads on)."""
    began = time.perf_counter()
    with av.open(str(path)) as container:
        # The streams the analysis reads: FFmpeg's best video and audio stream.
        best = (container.streams.best("video"), container.streams.best("audio"))
        streams = [stream for stream in best if stream is not None]
        for stream in streams:
            stream.thread_type = "AUTO"
        for packet in container.demux(streams):
            try:
                packet.decode()
            except av.error.FFmpegError:
                continue  # a damaged packet: skipped, as the analysis skips it
    return time.perf_counter() - began


def analysis(engine: Engine, path: Path) -> tuple[float, float]:
    """(seconds of the CPU side, of which the probe) as a worker runs it, intake included."""
    options = Settings().analysis_options(frames=16, aspects="scene")
    began = time.perf_counter()
    probe = probe_video(path)
    probe_s = time.perf_counter() - began
    prepared = engine.prepare(path, options, probe=probe)
    models = sum(prepared.stages_s.get(k, 0.0) for k in ("ocr", "speech"))
    return probe_s + prepared.decode_s - models, probe_s


def load_engine(folder: Path) -> Engine:
    from analyzers.testing.speech_clips import tiny_en_dir
    from analyzers.testing.tiny_model import make_test_model

    model = make_test_model(folder / "tiny-blip2")
    whisper = tiny_en_dir()  # Whisper tiny.en (the dev extra); without it, speech is skipped
    return Engine.load(
        "blip2",
        AnalyzerConfig(model=str(model), quantization="fp32", device="cpu"),
        StagesConfig(
            sampling="shots", ocr=False, ocr_langs="eng", transcribe=True,
            asr_model=str(whisper or folder / "no-whisper"), keyframes=True, device="cpu",
            quantization="fp32",
        ),
    )  # fmt: skip


def files(folder: Path) -> list[Path]:
    made = [make_clip(clip, folder) for clip in CLIPS]
    corpus = sorted(p for p in CORPUS.glob("*") if p.is_file() and p.name not in SKIP)
    return made + corpus


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = load_engine(folder)
        print(f"{'file':<40}{'plain s':>9}{'analysis s':>11}{'probe s':>9}{'ratio':>7}")
        ratios: list[float] = []
        for path in files(folder):
            try:
                analysis(engine, path)  # warm-up: caches, the processor's first call
            except Exception as err:  # a corpus file the product refuses: say so, go on
                print(f"{path.name:<40} refused: {type(err).__name__}: {err}")
                continue
            # Interleaved, best of each: a load that comes and goes hits both alike.
            plains, runs = [], []
            for _ in range(REPEATS):
                plains.append(plain_decode(path))
                runs.append(analysis(engine, path))
            plain = min(plains)
            cost, probe_s = min(runs)
            ratio = cost / plain if plain else float("nan")
            ratios.append(ratio)
            print(f"{path.name:<40}{plain:>9.3f}{cost:>11.3f}{probe_s:>9.3f}{ratio:>6.2f}x")
        engine.close()
        if ratios:
            print(f"median ratio {statistics.median(ratios):.2f}x, worst {max(ratios):.2f}x")


if __name__ == "__main__":
    main()
