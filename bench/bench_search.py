"""The library's search at scale: synthetic results written through the store, then queried.

Each job gets a result shaped like a real one (a few spoken phrases with word times, two
overlays, eight captioned frames, aspects, a summary, a platform title and hashtags), with
words drawn from a Zipf-like vocabulary so that common words match many jobs and rare ones
few. They go in through ``JobStore.finish_done`` (the index is written in the same
transaction, as in the service), then each query shape runs ``--repeats`` times: p50 and
p95 latency of one page of 20 hits, and the database's size on disk before and after.

    python bench/bench_search.py [--jobs 10000 100000] [--repeats 30] [--keep DIR]

The store commits as in the service (WAL, ``synchronous=FULL``): the fill rate printed is
the rate at which one front can index finished jobs on this disk.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.jobs.record import Job  # noqa: E402
from api.jobs.store import JobStore  # noqa: E402
from api.library.search import search  # noqa: E402
from api.settings import Settings  # noqa: E402

#: ranked by how often they come up: the named words sit among the common ones
NAMED = ["discount", "sale", "recipe", "pasta", "dance", "tutorial", "makeup", "café", "review"]
VOCABULARY = [f"w{n}" for n in range(20)] + NAMED + [f"w{n}" for n in range(20, 5000)]
QUERIES = {
    "common word": "w1",
    "rare word": "w999",
    "prefix": "disc*",
    "phrase": '"big sale"',
    "two words AND": "pasta recipe",
    "kind=speech": "discount",
}


def _words(rng: random.Random, n: int) -> list[str]:
    # Zipf-like: low ranks come up far more often, as in real speech
    return [VOCABULARY[min(int(rng.paretovariate(1.2)) - 1, len(VOCABULARY) - 1)] for _ in range(n)]


def synthetic_result(rng: random.Random, job_id: str) -> dict[str, Any]:
    """A result with about 60 searchable segments' worth of text."""
    segments = []
    for n in range(6):
        said = _words(rng, 10) + (["big", "sale"] if rng.random() < 0.05 else [])
        words = [
            {
                "text": w,
                "start_s": n * 5 + i * 0.4,
                "end_s": n * 5 + i * 0.4 + 0.3,
                "probability": 0.9,
            }
            for i, w in enumerate(said)
        ]
        segments.append(
            {"start_s": n * 5, "end_s": n * 5 + 4, "text": " ".join(said), "words": words}
        )
    frames = [
        {"timestamp_s": i * 4.0, "caption": " ".join(_words(rng, 8)), "aspects": {},
         "image": f"/jobs/{job_id}/frames/{i}"}
        for i in range(8)
    ]  # fmt: skip
    return {
        "summary": " ".join(_words(rng, 30)),
        "frames": frames,
        "aspects": {
            "mood": [{"text": " ".join(_words(rng, 3)), "frames": 8, "time_ranges": [[0, 30]]}]
        },
        "text_overlays": [
            {"text": " ".join(_words(rng, 4)), "start_s": 0.0, "end_s": 3.0, "confidence": 0.9},
            {"text": " ".join(_words(rng, 4)), "start_s": 10.0, "end_s": 14.0, "confidence": 0.9},
        ],
        "transcript": {
            "language": "en",
            "text": " ".join(s["text"] for s in segments),
            "segments": segments,
        },
        "source": {
            "title": " ".join(_words(rng, 6)),
            "description": None,
            "hashtags": _words(rng, 4),
        },
    }


def fill(store: JobStore, jobs: int, start: int, seed: int = 7) -> float:
    """Jobs ``start`` .. ``jobs - 1`` written through the store; seconds taken."""
    rng = random.Random(seed + start)
    options = Settings().analysis_options()
    began = time.perf_counter()
    for n in range(start, jobs):
        job_id = f"job-{n:06d}"
        store.insert(Job(job_id, options, Path("/up") / job_id, f"{job_id}.mp4", 1, 30.0))
        store.finish_done(
            job_id, synthetic_result(rng, job_id), model_started_at=None, model_finished_at=None
        )
    return time.perf_counter() - began


def measure(store: JobStore, repeats: int) -> None:
    for name, query in QUERIES.items():
        kind = "speech" if name.startswith("kind=") else None
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            page = store.read(lambda c, q=query, k=kind: search(c, q, kind=k, limit=20, after=None))
            times.append((time.perf_counter() - began) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        print(
            f"  {name:<15} {query!r:<14} p50 {statistics.median(times):8.1f} ms"
            f"  p95 {p95:8.1f} ms  ({len(page.hits)} hits on the page)",
            flush=True,
        )


def _size_mb(path: Path) -> float:
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


def _index_mb(path: Path) -> float:
    """The search tables' share of the database (SQLite's dbstat), after a checkpoint."""
    conn = sqlite3.connect(path)  # a second connection: the store's reads run in a transaction
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'search%'").fetchone()[
            0
        ]
    except sqlite3.OperationalError:  # an SQLite built without dbstat
        return float("nan")
    finally:
        conn.close()
    return float(pages or 0) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[10_000])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="keep the database in this folder")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-search-"))
    path = folder / "jobs.sqlite3"
    store = JobStore(path, Settings().analysis_options()).open()
    done = 0
    for jobs in sorted(args.jobs):
        seconds = fill(store, jobs, done)
        done = jobs
        index_mb = _index_mb(path)
        print(
            f"{jobs} jobs: filled in {seconds:.0f} s, database {_size_mb(path):.0f} MB,"
            f" of which the search index {index_mb:.0f} MB"
        )
        measure(store, args.repeats)
    store.close()


if __name__ == "__main__":
    main()
