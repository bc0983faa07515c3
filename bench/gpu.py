"""GPU runbook: how fast the real model describes YOUR videos on YOUR GPU, int8 against fp16.

    python bench/gpu.py clip1.mp4 clip2.mp4 ... [--model Salesforce/blip2-opt-2.7b]
        [--quantization int8 fp16] [--frames 16] [--batch-size 32] [--group 4] [--device auto]

For each quantization it loads the model once, then describes every video one at a
time (decode, then the model, as one worker does) and prints per video the decode
and model seconds and the realtime factor (seconds of work per second of video;
below 1 is faster than the video plays). The summary line gives videos per minute,
the GPU's busy share (NVML utilisation sampled every 50 ms during the pass: low
means the GPU waits for decoding or Python), peak GPU memory (this process's
tensors from torch, and the whole device from NVML, other processes included).
With ``--group N`` a second pass describes the videos N at a time through
``describe_many`` (their rows share generate() calls): the batching a worker can
use when several jobs are queued.

Without a GPU (or NVML) it says so and runs on the CPU: with ``--model DIR`` of the
tiny random-weight model (``tiktok-analyzer make-test-model DIR``) that proves the
script works, not what a GPU does.

    python bench/gpu.py --real-size [videos ...] [--quantization int8 fp16]

builds BLIP-2 at the real OPT-2.7b size with random weights in memory (no download; see
bench/real_size_blip2.py), every answer exactly ``--max-new-tokens`` long, and without
videos generates a few clips (720x1280 30 fps, 1080x1920 60 fps, HEVC). It needs a CUDA
GPU; ``--smoke --device cpu --quantization fp32`` runs the same code at a tiny size.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzers.base import AnalyzerConfig  # noqa: E402
from analyzers.models.blip2.analyzer import Blip2Analyzer  # noqa: E402
from analyzers.options import AnalysisOptions  # noqa: E402
from analyzers.pipeline import PreparedVideo, describe_prepared, prepare  # noqa: E402
from api.settings import Settings  # noqa: E402
from bench.bench_decode_pass import CLIPS, Clip, make_clip  # noqa: E402
from bench.real_size_blip2 import REAL_SIZES, SMOKE_SIZES, RealSizeBlip2  # noqa: E402

SAMPLE_EVERY_S = 0.05


class GpuSampler:
    """NVML utilisation and memory of one GPU, sampled in a thread while a pass runs."""

    def __init__(self, index: int) -> None:
        self.reason = ""
        self._nvml: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self.name = str(pynvml.nvmlDeviceGetName(self._handle))
            self._nvml = pynvml
        except Exception as err:  # no driver, no device, no library: say which
            self.reason = f"{type(err).__name__}: {err}"
        self.busy: list[float] = []
        self.used_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def available(self) -> bool:
        return self._nvml is not None

    def __enter__(self) -> GpuSampler:
        self.busy, self.used_bytes = [], 0
        if self.available:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            rates = self._nvml.nvmlDeviceGetUtilizationRates(self._handle)
            memory = self._nvml.nvmlDeviceGetMemoryInfo(self._handle)
            self.busy.append(float(rates.gpu))
            self.used_bytes = max(self.used_bytes, int(memory.used))


@dataclass
class PassResult:
    label: str
    rows: list[tuple[str, float, float, float, float]] = field(default_factory=list)
    wall_s: float = 0.0
    busy: list[float] = field(default_factory=list)
    torch_peak: int = 0
    nvml_peak: int = 0

    def summary(self, gpu: bool) -> str:
        per_minute = len(self.rows) / self.wall_s * 60 if self.wall_s else 0.0
        factors = [row[4] for row in self.rows]
        text = (
            f"{self.label}: {len(self.rows)} videos in {self.wall_s:.1f} s = "
            f"{per_minute:.1f} videos/min, median realtime factor "
            f"{statistics.median(factors):.3f}"
        )
        if gpu:
            busy = statistics.mean(self.busy) if self.busy else 0.0
            text += (
                f", GPU busy {busy:.0f}% ({len(self.busy)} samples), peak memory "
                f"{self.torch_peak / 2**30:.2f} GiB (torch) / {self.nvml_peak / 2**30:.2f} GiB "
                "(whole GPU, NVML)"
            )
        return text


def one_at_a_time(
    analyzer: Blip2Analyzer, info: Any, videos: list[Path], options: AnalysisOptions
) -> PassResult:
    result = PassResult("one at a time")
    for path in videos:
        analysed = describe_prepared(prepare(path, analyzer, options), analyzer, info)
        t = analysed.timings
        result.rows.append(
            (path.name, analysed.video.duration_s, t.decode_s, t.inference_s, t.realtime_factor)
        )
        print(
            f"  {path.name:<40}{analysed.video.duration_s:>8.1f}{t.decode_s:>9.2f}"
            f"{t.inference_s:>9.2f}{t.realtime_factor:>9.3f}",
            flush=True,
        )
    return result


def grouped(
    analyzer: Blip2Analyzer, videos: list[Path], options: AnalysisOptions, size: int
) -> PassResult:
    result = PassResult(f"{size} at a time (describe_many)")
    for start in range(0, len(videos), size):
        group = videos[start : start + size]
        prepared: list[PreparedVideo] = [prepare(p, analyzer, options) for p in group]
        began = time.perf_counter()
        analyzer.describe_many([(p.model_input, p.aspects) for p in prepared])
        model_s = (time.perf_counter() - began) / len(group)  # shared: split evenly
        for path, item in zip(group, prepared, strict=True):
            duration = item.video.duration_s
            factor = (item.decode_s + model_s) / duration if duration else 0.0
            result.rows.append((path.name, duration, item.decode_s, model_s, factor))
            print(
                f"  {path.name:<40}{duration:>8.1f}{item.decode_s:>9.2f}{model_s:>9.2f}"
                f"{factor:>9.3f}",
                flush=True,
            )
    return result


def run_quantization(
    args: argparse.Namespace, quantization: str, videos: list[Path], sampler: GpuSampler
) -> list[str]:
    import torch

    config = AnalyzerConfig(
        model=args.model, quantization=quantization, device=args.device,
        batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
    )  # fmt: skip
    analyzer: Blip2Analyzer = Blip2Analyzer(config)
    if args.real_size:
        analyzer = RealSizeBlip2(config, SMOKE_SIZES if args.smoke else REAL_SIZES)
    started = time.perf_counter()
    info = analyzer.load()
    loaded_s = time.perf_counter() - started
    test = " (THE RANDOM-WEIGHT TEST MODEL)" if info.test_model else ""
    print(f"\n## {quantization}: {info.name} on {info.device}, loaded in {loaded_s:.1f} s{test}")
    options = AnalysisOptions.create(
        frames=args.frames, aspects=None, max_frames=max(64, args.frames), decoder="auto",
        decode_timeout_s=300.0, max_duration_s=3600.0, seek="exact",
    )  # fmt: skip
    gpu = sampler.available and info.device.startswith("cuda")
    # Warm-up, not timed: the first call pays CUDA context, cuBLAS and allocator set-up.
    describe_prepared(prepare(videos[0], analyzer, options), analyzer, info)
    passes = [functools.partial(one_at_a_time, analyzer, info, videos, options)]
    if args.group > 1:
        passes.append(functools.partial(grouped, analyzer, videos, options, args.group))
    summaries: list[str] = []
    for run in passes:
        print(f"  {'video':<40}{'length s':>8}{'decode s':>9}{'model s':>9}{'realtime':>9}")
        if gpu:
            torch.cuda.reset_peak_memory_stats()
        with sampler:
            began = time.perf_counter()
            result = run()
            result.wall_s = time.perf_counter() - began
        result.busy = list(sampler.busy)
        result.nvml_peak = sampler.used_bytes
        if gpu:
            result.torch_peak = int(torch.cuda.max_memory_allocated())
        print(result.summary(gpu), flush=True)
        summaries.append(f"{quantization} {result.summary(gpu)}")
    analyzer.release_memory()
    return summaries


def generated_clips(folder: Path, smoke: bool) -> list[Path]:
    """A few clips of different sizes, rates and codecs (tiny ones for --smoke)."""
    if smoke:
        return [make_clip(Clip("smoke.mp4", 160, 288, 30, 2.0, "libx264", True), folder)]
    return [make_clip(clip, folder) for clip in CLIPS]


def pick_device(args: argparse.Namespace) -> str | None:
    """The device for --real-size, or None after saying why it cannot run here."""
    import torch

    if args.device == "cpu":
        if not args.smoke:
            print("--real-size on the CPU would take hours: add --smoke for a tiny-size check")
            return None
        return "cpu"
    if not torch.cuda.is_available():
        print(
            "--real-size needs a CUDA GPU (torch sees none): the OPT-2.7b-size model is "
            "measured on a GPU only. For a check that the script runs here: "
            "--real-size --smoke --device cpu --quantization fp32"
        )
        return None
    return "cuda" if args.device == "auto" else args.device


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--model", default=Settings().model, help="hub id or local directory")
    parser.add_argument("--quantization", nargs="+", default=["int8", "fp16"])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--group", type=int, default=4, help="videos per describe_many pass")
    parser.add_argument(
        "--real-size", action="store_true", help="random-weight BLIP-2 at OPT-2.7b size"
    )
    parser.add_argument("--smoke", action="store_true", help="with --real-size: tiny sizes")
    args = parser.parse_args(argv)
    if args.real_size:
        device = pick_device(args)
        if device is None:
            return 2
        args.device = device
    elif not args.videos:
        parser.error("give the videos to describe (or --real-size, which makes its own)")
    missing = [str(p) for p in args.videos if not p.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")
    import torch

    device_index = int(args.device.split(":")[1]) if args.device.startswith("cuda:") else 0
    sampler = GpuSampler(device_index)
    if torch.cuda.is_available() and sampler.available:
        print(f"GPU {device_index}: {sampler.name}, NVML sampled every {SAMPLE_EVERY_S:g} s")
    else:
        why = "torch sees no CUDA device" if not torch.cuda.is_available() else sampler.reason
        print(
            f"NO GPU FOUND ({why}; NVML: {sampler.reason or 'ok'}): running on the CPU. "
            "GPU busy share and GPU memory are not measured, and the figures below say "
            "nothing about a GPU; with the tiny test model they only prove the script runs."
        )
        # One thread: two OpenMP threads spinning against other work on a small shared
        # machine can be 10x slower, and no GPU figure comes from this run anyway.
        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        videos = list(args.videos) or generated_clips(Path(tmp), args.smoke)
        summaries: list[str] = []
        for quantization in args.quantization:
            summaries += run_quantization(args, quantization, videos, sampler)
    print("\n## side by side")
    for line in summaries:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
