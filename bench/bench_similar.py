"""GET /jobs/{id}/similar's lookup at 10,000 jobs: fingerprints written through the store.

Synthetic fingerprints shaped like real ones: a sound is 30 s of Chromaprint-like
items (each the one before with a few bits flipped, as neighbouring sub-fingerprints
are), a video 8 frame hashes. A trending sound is shared: 300 sounds are each used by
20 jobs (a stretch of 15-30 s of it, bits flipped by the re-encoding), and 5 % of the
jobs are re-uploads of another job's pictures. Prints the write rate, the database's
size, and the lookup's p50 / p95 over 300 jobs (the store's similar_jobs, as the route
calls it), with how many matches a lookup found on average.

Run: ``python bench/bench_similar.py [jobs]`` (or ``make bench``).
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.jobs.record import Job  # noqa: E402
from api.jobs.store import JobStore  # noqa: E402
from api.settings import Settings  # noqa: E402

JOBS = 10_000
ITEMS = 242  # 30 s of Chromaprint at about 8 items a second
FRAMES = 8
TRENDING_SOUNDS, USES = 300, 20
REUPLOAD_SHARE = 0.05
LOOKUPS = 300


def _sound(rng: random.Random, length: int) -> list[int]:
    item, out = rng.getrandbits(32), []
    for _ in range(length):
        for _ in range(rng.randint(2, 6)):
            item ^= 1 << rng.randrange(32)
        out.append(item)
    return out


def _noisy(values: list[int], rng: random.Random, bits: int, width: int) -> list[int]:
    """Each value with up to ``bits`` random bits flipped: another encoding of the same."""
    out = []
    for value in values:
        for _ in range(rng.randint(0, bits)):
            value ^= 1 << rng.randrange(width)
        out.append(value)
    return out


def _fingerprints(rng: random.Random, count: int) -> list[dict[str, list[int]]]:
    trending = [_sound(rng, ITEMS) for _ in range(TRENDING_SOUNDS)]
    prints: list[dict[str, list[int]]] = []
    for n in range(count):
        if n < TRENDING_SOUNDS * USES:
            bed = trending[n % TRENDING_SOUNDS]
            start = rng.randrange(0, ITEMS // 2)
            audio = _noisy(bed[start : start + rng.randint(ITEMS // 2, ITEMS)], rng, 2, 32)
        else:
            audio = _sound(rng, ITEMS)
        frames = [rng.getrandbits(64) for _ in range(FRAMES)]
        if prints and rng.random() < REUPLOAD_SHARE:
            frames = _noisy(prints[rng.randrange(len(prints))]["frames"], rng, 4, 64)
        prints.append({"audio": audio, "frames": frames})
    rng.shuffle(prints)
    return prints


def run(folder: Path, count: int) -> None:
    settings = Settings()
    store = JobStore(folder / "jobs.sqlite3", settings.analysis_options()).open()
    options = settings.analysis_options()
    prints = _fingerprints(random.Random(21), count)
    began = time.perf_counter()
    for n, found in enumerate(prints):
        job_id = f"job-{n:06d}"
        store.insert(Job(job_id, options, Path("/up") / job_id, f"{job_id}.mp4", 1, 30.0))
        store.finish_done(job_id, {}, model_started_at=0, model_finished_at=0, fingerprints=found)
    written = time.perf_counter() - began
    size = sum(p.stat().st_size for p in folder.glob("jobs.sqlite3*"))
    print(f"{count} jobs written in {written:.1f} s ({count / written:.0f} jobs/s); "
          f"database {size / 1e6:.1f} MB ({size / count / 1e3:.1f} kB a job)")  # fmt: skip
    picks = random.Random(5).sample(range(count), min(LOOKUPS, count))
    seconds, matches = [], 0
    for n in picks:
        began = time.perf_counter()
        matches += len(store.similar_jobs(f"job-{n:06d}"))
        seconds.append(time.perf_counter() - began)
    cuts = statistics.quantiles(seconds, n=20)
    print(f"lookup over {len(picks)} jobs: p50 {1000 * statistics.median(seconds):.1f} ms, "
          f"p95 {1000 * cuts[18]:.1f} ms; {matches / len(picks):.1f} matches a lookup")  # fmt: skip
    store.close()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else JOBS
    with tempfile.TemporaryDirectory(prefix="bench-similar-") as tmp:
        run(Path(tmp), count)


if __name__ == "__main__":
    main()
