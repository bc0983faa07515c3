"""Memory of the front over a long run of one-frame jobs (issue 8's soak, made repeatable).

Prints, every ``--every`` jobs: jobs done, the front's RSS and C heap in use (its own
/metrics), and throughput. A front that keeps something per job grows in both columns
from line to line; one that levels off stops growing after the first lines.

Run: ``python bench/soak_front.py --jobs 12000`` (about 7 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzers.testing.clips import make_video  # noqa: E402
from analyzers.testing.tiny_model import make_test_model  # noqa: E402
from bench.server import front_memory, serving, upload  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000, help="jobs in all (default 3000)")
    parser.add_argument("--every", type=int, default=500, help="jobs between lines")
    parser.add_argument("--clients", type=int, default=3, help="parallel clients (default 3)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="tiktok-analyzer-soak-"))
    model = make_test_model(root / "model")
    video = make_video(root / "tiny.mp4", width=96, height=160, duration_s=2, fps=10)
    # The cheapest real job: one frame, no shots, OCR, speech or keyframes.
    cheapest = {"workers": 2, "frames": 1, "sampling": "uniform", "log_level": "WARNING"}
    cheapest |= dict.fromkeys(("ocr", "transcribe", "keyframes"), "false")
    print(f"# {args.jobs} one-frame jobs from {args.clients} clients, 2 workers, tiny model")
    print(f"{'jobs':>7} {'RSS MB':>8} {'heap MB':>8} {'jobs/s':>7} {'failed':>6}")
    with (
        serving(root, model, {"server": cheapest}) as servers,
        servers["server"].client() as client,
    ):

        def one(_: int) -> bool:
            response = upload(client, video, frames=1, aspects="scene")
            return response.status_code == 200

        done = failed = 0
        while done < args.jobs:
            batch = min(args.every, args.jobs - done)
            started = time.monotonic()
            with ThreadPoolExecutor(args.clients) as pool:
                failed += sum(not ok for ok in pool.map(one, range(batch)))
            done += batch
            rate = batch / (time.monotonic() - started)
            heap, rss = (value / 2**20 for value in front_memory(client))
            print(f"{done:>7} {rss:>8.2f} {heap:>8.3f} {rate:>7.1f} {failed:>6}", flush=True)


if __name__ == "__main__":
    main()
