"""Local pool vs Ray backend with the tiny BLIP-2: the same 12 videos, the same 2 workers.

Both servers run side by side in one run (a private Ray, RAY_ADDRESS=local, for
the Ray one); rounds alternate between them so load from elsewhere hits both.
Prints the throughput ratio (goal: Ray >= 0.9x local) and the latency Ray adds
per job (median of single-job round trips), in ms.

Run: ``python bench/bench_backends.py`` (or ``make bench``); needs the ray extra.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzers.testing.clips import make_video  # noqa: E402
from bench.bench_serving import (  # noqa: E402
    BATCH,
    SAME_WORK,
    batch,
    poster,
    print_table,
    timed_ok,
)
from bench.server import serving  # noqa: E402

ROUNDS = 3
SINGLES = 5
WORKERS = 2


def run(tmp: Path) -> None:
    from analyzers.testing.tiny_model import make_test_model

    model_dir = make_test_model(tmp / "tiny-blip2")
    clip = make_video(tmp / "portrait_4s.mp4", width=360, height=640, duration_s=4)
    # Only the model and the serving differ: OCR, shots and Whisper (which fails offline) off.
    common = {"workers": WORKERS, "frames": 8, "queue_size": 64, **SAME_WORK}
    configs = {
        "local": {"backend": "local", **common},
        "ray": {"backend": "ray", "ray_address": "local", **common},
    }
    samples: dict[str, list[float]] = {}
    with serving(tmp, model_dir, configs) as servers:
        clients = {name: srv.client() for name, srv in servers.items()}
        print(f"  load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        for client in clients.values():  # warm-up
            timed_ok(poster(client), clip)
        for round_no in range(ROUNDS):
            for name, client in clients.items():
                post = poster(client)
                samples.setdefault(f"batch_{name}", []).append(batch(post, clip)[0])
                for _ in range(SINGLES):
                    samples.setdefault(f"single_{name}", []).append(timed_ok(post, clip))
            print(f"  round {round_no + 1}/{ROUNDS} done", flush=True)
        print(f"  load average after: {os.getloadavg()[0]:.2f}")
        for client in clients.values():
            client.close()
    m = {key: statistics.median(values) for key, values in samples.items()}
    local, ray = m["batch_local"], m["batch_ray"]
    added_ms = (m["single_ray"] - m["single_local"]) * 1000
    print_table(
        [
            (
                f"{BATCH} x 4 s videos, {WORKERS} workers: Ray vs local throughput",
                f"{ray:.2f} s",
                f"{local:.2f} s",
                f"{local / ray:.2f}x",
            ),
            (
                "one 4 s video: Ray vs local round trip",
                f"{m['single_ray'] * 1000:.0f} ms",
                f"{m['single_local'] * 1000:.0f} ms",
                f"{added_ms:+.0f} ms per job",
            ),
        ]
    )


def main() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        print("  skipped: Ray is not installed (pip install -e '.[ray]')")
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        run(Path(tmp))


if __name__ == "__main__":
    main()
