"""`make bench`: every benchmark, each printing ratios measured side by side in this run."""

from __future__ import annotations

import importlib
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BENCHMARKS = [
    "bench_sampling",
    "bench_vision_reuse",
    "bench_cli",
    "bench_serving",
    "bench_backends",
    "bench_stages",
    "bench_video_llm",
    "bench_similar",
    "bench_search",
]


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"# tiktok-analyzer benchmarks on {platform.machine()}, {os.cpu_count()} cores")
    only = sys.argv[1:] or BENCHMARKS
    del sys.argv[1:]  # each benchmark reads its own defaults, not run_all's arguments
    for name in only:
        print(f"\n# {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main()
