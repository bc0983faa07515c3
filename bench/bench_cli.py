"""Realtime factor of the whole CLI analysis of a 60 s portrait video on the tiny model."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzers.testing.clips import make_video  # noqa: E402
from analyzers.testing.tiny_model import make_test_model  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        video = make_video(
            Path(tmp) / "portrait_60s.mp4", width=720, height=1280, duration_s=60, fps=30
        )
        model = make_test_model(Path(tmp) / "tiny")
        print("\n## Whole CLI analysis, 60 s 720x1280 H.264, tiny BLIP-2, 16 frames x 9 prompts")
        print(f"{'quantization':<14}{'wall s':>9}{'total_s':>9}{'decode_s':>10}{'infer_s':>9}"
              f"{'wall/duration':>15}")  # fmt: skip
        for quantization in ("fp32", "int8"):
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "api.cli", "analyze", str(video), "--model", str(model),
                 "--quantization", quantization, "--json"],
                capture_output=True, text=True, check=True, cwd=ROOT,
            )  # fmt: skip
            wall = time.perf_counter() - started
            timings = json.loads(proc.stdout)["result"]["timings"]
            print(
                f"{quantization:<14}{wall:>9.2f}{timings['total_s']:>9.2f}"
                f"{timings['decode_s']:>10.2f}{timings['inference_s']:>9.2f}{wall / 60:>15.3f}"
            )
        print("(wall includes interpreter start and model load; total_s is the analysis alone)")


if __name__ == "__main__":
    main()
