"""Benchmark: video-llm families against BLIP-2 per video, and token merging's effect on prefill.

Tiny random-weight models only (built in a temp dir, no network): the numbers
compare paths and settings measured side by side in one run, not real models.
Per video (the same frames, a description/caption plus 8 aspects):

- visual tokens per prompt and visual token positions the language model prefills
  in total, and the inference time of each family against BLIP-2's tiny model;
- for each family, prefill time (visual tokens merged, every prompt through the
  language model for one token) at token-merge ratios 1.0, 0.5 and 0.25.

Run from the repository root: ``python bench/bench_video_llm.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

# Runnable as a plain script from a clone that is not pip-installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Everything is built locally; a hub lookup would be a bug, so make it fail fast.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from analyzers.aspects import DEFAULT_ASPECTS  # noqa: E402
from analyzers.base import AnalyzerConfig  # noqa: E402
from analyzers.models.blip2.analyzer import Blip2Analyzer  # noqa: E402
from analyzers.models.video_llm.analyzer import VideoInput, VideoLLMAnalyzer  # noqa: E402
from analyzers.models.video_llm.generation import (  # noqa: E402
    build_row,
    generate_rows,
    generation_spec,
    merge_video,
    prompt_ids,
    visual_sequence,
)
from analyzers.models.video_llm.prompting import (  # noqa: E402
    DESCRIPTION_PROMPT,
    aspect_prompt,
    time_instruction,
)
from analyzers.testing.tiny_model import make_test_model, make_tiny_model  # noqa: E402

KINDS = ("qwen2-vl", "llava-onevision", "llava")
RATIOS = (1.0, 0.5, 0.25)


def _seconds(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _config(model_dir: Path, args: argparse.Namespace, ratio: float = 1.0) -> AnalyzerConfig:
    return AnalyzerConfig(
        model=str(model_dir),
        quantization=args.quantization,
        device="cpu",
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        token_merge_ratio=ratio,
    )


@dataclass
class _Video:
    """The benchmark's one video: frames and their times."""

    images: list[np.ndarray]
    timestamps: list[float]
    duration_s: float


def _prefill(analyzer: VideoLLMAnalyzer, prepared: VideoInput, encoded: Any, video: _Video,
             ratio: float) -> None:  # fmt: skip
    """Merge the (already encoded) frames and prefill every prompt: generate one token."""
    loaded = analyzer.loaded
    merged = merge_video(encoded, ratio)
    instruction = time_instruction(video.duration_s, video.timestamps)
    questions = [DESCRIPTION_PROMPT, *(aspect_prompt(a) for a in DEFAULT_ASPECTS)]
    rows = [
        build_row(loaded, merged, prompt_ids(loaded, prepared.frames, instruction, q))
        for q in questions
    ]
    with torch.no_grad():
        generate_rows(
            loaded,
            visual_sequence(merged),
            rows,
            generation_spec(loaded),
            batch_size=analyzer.config.batch_size,
            max_new_tokens=1,
        )


def _family_vs_blip2(tmp: Path, args: argparse.Namespace, video: _Video) -> dict[str, Any]:
    """Visual tokens and median inference time per video, BLIP-2 and each family interleaved."""
    prompts = 1 + len(DEFAULT_ASPECTS)
    blip2 = Blip2Analyzer(_config(make_test_model(tmp / "blip2"), args))
    blip2.load()
    blip2_input = blip2.preprocess(video.images)
    runs: dict[str, Callable[[], Any]] = {
        "blip2": lambda: blip2.describe(blip2_input, DEFAULT_ASPECTS)
    }
    families: dict[str, VideoLLMAnalyzer] = {}
    for kind in KINDS:
        analyzer = VideoLLMAnalyzer(_config(make_tiny_model(kind, tmp / kind), args))
        analyzer.load()
        prepared = analyzer.preprocess(video.images)
        families[kind] = analyzer
        runs[kind] = partial(
            analyzer.describe_video, prepared, DEFAULT_ASPECTS, video.timestamps, video.duration_s
        )
    for fn in runs.values():
        fn()  # warm-up: first calls pay one-off allocator and kernel selection costs
    samples: dict[str, list[float]] = {name: [] for name in runs}
    # Interleaved repeats: a neighbour's load on a shared machine hits every model alike.
    for _ in range(args.repeats):
        for name, fn in runs.items():
            samples[name].append(_seconds(fn))
    per_row = blip2.loaded.spec.num_query_tokens
    out: dict[str, Any] = {
        "blip2": {
            "visual_per_prompt": f"{per_row}/frame",
            "visual_prefilled": len(video.images) * prompts * per_row,
            "seconds": statistics.median(samples["blip2"]),
        }
    }
    for kind, analyzer in families.items():
        stats = analyzer.last_run
        assert stats is not None
        out[kind] = {
            "visual_per_prompt": str(stats.visual_tokens),
            "visual_prefilled": prompts * stats.visual_tokens,
            "seconds": statistics.median(samples[kind]),
            "analyzer": analyzer,
        }
    return out


def _merge_effect(analyzer: VideoLLMAnalyzer, args: argparse.Namespace, video: _Video) -> Any:
    """Median prefill seconds and visual tokens per ratio, the ratios interleaved."""
    loaded = analyzer.loaded
    prepared = analyzer.preprocess(video.images)
    with torch.no_grad():
        encoded = loaded.family.encode(loaded.model, prepared.tensors, loaded.compute_dtype)
    tokens = {r: sum(f.features.shape[0] for f in merge_video(encoded, r).frames) for r in RATIOS}
    samples: dict[float, list[float]] = {r: [] for r in RATIOS}
    _prefill(analyzer, prepared, encoded, video, 1.0)  # warm-up
    for _ in range(args.repeats):
        for ratio in RATIOS:
            samples[ratio].append(
                _seconds(partial(_prefill, analyzer, prepared, encoded, video, ratio))
            )
    return {r: (tokens[r], statistics.median(v)) for r, v in samples.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quantization", default="fp32", choices=["fp32", "int8", "bf16"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (0: torch's default)"
    )
    # Called as main() by bench/run_all.py, whose own argv is not meant for this parser.
    args = parser.parse_args(list(argv) if argv is not None else [])
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (1280, 720, 3), dtype=np.uint8) for _ in range(args.frames)]
    video = _Video(images, [i + 0.5 for i in range(args.frames)], float(args.frames))
    with tempfile.TemporaryDirectory(prefix="bench-video-llm-") as tmp:
        rows = _family_vs_blip2(Path(tmp), args, video)
        merging = {kind: _merge_effect(rows[kind]["analyzer"], args, video) for kind in KINDS}
    print(
        f"one video: {args.frames} frames of 720x1280, description/caption + "
        f"{len(DEFAULT_ASPECTS)} aspects, {args.quantization}, {torch.get_num_threads()} CPU "
        f"thread(s), median of {args.repeats}"
    )
    base = rows["blip2"]["seconds"]
    print(
        f"{'model':<17}{'visual/prompt':>14}{'visual prefilled':>18}{'seconds':>9}{'vs blip2':>10}"
    )
    for name, row in rows.items():
        print(
            f"{name:<17}{row['visual_per_prompt']:>14}{row['visual_prefilled']:>18}"
            f"{row['seconds']:>9.3f}{row['seconds'] / base:>9.2f}x"
        )
    print("\ntoken merging: visual tokens, prefill of every prompt (merge + 1 token), vs 1.0")
    print(f"{'model':<17}" + "".join(f"{'ratio ' + str(r):>24}" for r in RATIOS))
    for kind, effect in merging.items():
        full = effect[1.0][1]
        cells = [f"{n} tok {s:.3f}s {s / full:.2f}x" for n, s in effect.values()]
        print(f"{kind:<17}" + "".join(f"{c:>24}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
