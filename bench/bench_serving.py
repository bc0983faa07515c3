"""Serving benchmark with the tiny BLIP-2, every ratio measured side by side in one run.

1. overhead: one 60 s 720x1280 video through HTTP (upload, probe, queue, worker)
   against the same analysis in this process (analyze_video);
2. throughput: 12 videos at once, 1 worker against 2 workers;
3. model idle time between consecutive jobs on one worker, prefetch on and off
   (from the model_started_at / model_finished_at each job reports);
4. a peer: the same analyzer served by LitServe (same options, same threads per
   worker): single-request latency and 12-video throughput, 2 workers each.

Run: ``python bench/bench_serving.py`` (or ``make bench``); needs ``pip install litserve``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from analyzers.testing.clips import make_video  # noqa: E402
from api.pool.devices import cpu_threads_per_worker  # noqa: E402
from bench.server import answers, free_port, poll, serving, upload  # noqa: E402

FRAMES = 16  # the service default: what a client gets without options
#: the analyzer alone, as the in-process and LitServe peers run it: no shots, OCR, speech
#: or keyframes (bench_stages measures those)
SAME_WORK = {"sampling": "uniform", "ocr": "false", "transcribe": "false", "keyframes": "false"}
BATCH = 12
ROUNDS = 3


# --- the LitServe peer -----------------------------------------------------------------
try:
    import litserve as ls
    from starlette.requests import Request
except ImportError:  # the bench extra is not installed; main() says so
    ls = None

if ls is not None:

    class PeerAPI(ls.LitAPI):  # type: ignore[misc]
        """The same tiny analyzer behind LitServe: upload to a temp file, analyze_video."""

        def __init__(self, model_dir: str, threads: int) -> None:
            super().__init__()
            self.model_dir, self.threads = model_dir, threads

        def setup(self, device: str) -> None:
            import torch

            from analyzers.base import AnalyzerConfig
            from analyzers.registry import create_analyzer

            torch.set_num_threads(self.threads)
            config = AnalyzerConfig(model=self.model_dir, quantization="fp32", device="cpu")
            self.analyzer = create_analyzer("blip2", config)
            self.info = self.analyzer.load()

        def decode_request(self, request: Any) -> str:
            upload = request["file"]
            with tempfile.NamedTemporaryFile(suffix=".mp4", delete=False) as out:
                upload.file.seek(0)
                while chunk := upload.file.read(1 << 20):
                    out.write(chunk)
            return out.name

        def predict(self, path: str) -> dict[str, Any]:
            from analyzers.pipeline import analyze_video
            from api.settings import Settings

            try:
                options = Settings().analysis_options(FRAMES)
                result = analyze_video(path, self.analyzer, self.info, options)
            finally:
                os.unlink(path)
            return result.model_dump(mode="json")

        def encode_response(self, output: dict[str, Any]) -> dict[str, Any]:
            return output

    # LitServe reads this annotation at run time to decide to parse the form; postponed
    # annotations would hand it the string "Any" and make 'request' a query parameter.
    PeerAPI.decode_request.__annotations__["request"] = Request


def run_litserve_peer(port: int, model_dir: str, workers: int) -> None:
    """Entry point of the peer subprocess."""
    api = PeerAPI(model_dir, cpu_threads_per_worker(workers))
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=workers, timeout=600)
    server.run(port=port, host="127.0.0.1", generate_client_file=False, log_level="warning")


class LitServePeer:
    """The peer in a subprocess, polled on its /health until it answers 'ok'."""

    def __init__(self, model_dir: Path, workers: int, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["--litserve-peer", str(self.port), str(model_dir), str(workers)]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.bench_serving", *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.log = log

    def wait_ready(self, timeout: float = 300) -> None:
        url = f"{self.url}/health"
        poll(
            lambda: answers(self.proc, self.log, url, lambda r: r.text.strip('"') == "ok"),
            timeout,
            "LitServe",
            0.3,
        )

    def post(self, client: httpx.Client, video: Path) -> httpx.Response:
        with open(video, "rb") as fh:
            return client.post("/predict", files={"file": (video.name, fh, "video/mp4")})

    def stop(self) -> None:
        # LitServe runs its own process tree in the session we gave it.
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


# --- measurements ----------------------------------------------------------------------
Post = Callable[[Path], httpx.Response]


def timed_ok(post: Post, video: Path) -> float:
    started = time.perf_counter()
    response = post(video)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text[:500]
    return elapsed


def batch(post: Post, video: Path) -> tuple[float, list[httpx.Response]]:
    """Wall time for BATCH videos sent at once, each waited for."""
    with ThreadPoolExecutor(BATCH) as pool:
        started = time.perf_counter()
        responses = list(pool.map(lambda _: post(video), range(BATCH)))
        elapsed = time.perf_counter() - started
    bad = [r for r in responses if r.status_code != 200]
    assert not bad, bad[0].text[:500]
    return elapsed, responses


def idle_gaps(responses: list[httpx.Response]) -> tuple[float, float]:
    """(median gap between one model call's end and the next's start, busy fraction)."""
    spans = sorted(
        (
            datetime.fromisoformat(r.json()["timings"]["model_started_at"]).timestamp(),
            datetime.fromisoformat(r.json()["timings"]["model_finished_at"]).timestamp(),
        )
        for r in responses
    )
    gaps = [max(0.0, b[0] - a[1]) for a, b in zip(spans, spans[1:], strict=False)]
    busy = sum(end - start for start, end in spans)
    return statistics.median(gaps), busy / (spans[-1][1] - spans[0][0])


def in_process(model_dir: Path) -> Post:
    """analyze_video in this process, with the threads a 1-worker server gives its worker."""
    import torch

    from analyzers.base import AnalyzerConfig
    from analyzers.pipeline import analyze_video
    from analyzers.registry import create_analyzer
    from api.settings import Settings

    torch.set_num_threads(cpu_threads_per_worker(1))
    analyzer = create_analyzer(
        "blip2", AnalyzerConfig(model=str(model_dir), quantization="fp32", device="cpu")
    )
    info = analyzer.load()

    def run(video: Path) -> httpx.Response:
        analyze_video(video, analyzer, info, Settings().analysis_options(FRAMES))
        return httpx.Response(200)

    return run


def poster(client: httpx.Client) -> Post:
    return lambda video: upload(client, video)


def run(tmp: Path) -> None:
    from analyzers.testing.tiny_model import make_test_model

    model_dir = make_test_model(tmp / "tiny-blip2")
    long_video = make_video(tmp / "portrait_60s.mp4", width=720, height=1280, duration_s=60)
    clip = make_video(tmp / "portrait_10s.mp4", width=720, height=1280, duration_s=10)
    common = {"frames": FRAMES, "queue_size": 64, **SAME_WORK}
    configs: dict[str, dict[str, Any]] = {
        "1w": {**common, "workers": 1},
        "1w-off": {**common, "workers": 1, "prefetch": "false"},
        "2w": {**common, "workers": 2},
    }
    peer = LitServePeer(model_dir, 2, tmp / "litserve.log")
    limits = httpx.Limits(max_connections=BATCH + 2)
    try:
        with serving(tmp, model_dir, configs) as servers:
            peer.wait_ready()
            clients = {name: srv.client(limits=limits) for name, srv in servers.items()}
            peer_client = httpx.Client(base_url=peer.url, timeout=600, limits=limits)
            posts: dict[str, Post] = {name: poster(c) for name, c in clients.items()}
            posts["peer"] = lambda v: peer.post(peer_client, v)
            posts["inproc"] = in_process(model_dir)
            samples = measure(posts, long_video, clip)
            for client in [*clients.values(), peer_client]:
                client.close()
    finally:
        peer.stop()
    print_table(table(samples))


def measure(posts: dict[str, Post], long_video: Path, clip: Path) -> dict[str, Any]:
    """Rounds that visit every target in turn, so load from elsewhere hits them alike."""
    samples: dict[str, list[Any]] = {}
    # Other work on the machine skews every figure; the rounds at least share it fairly.
    print(f"  load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)

    def add(key: str, value: Any) -> None:
        samples.setdefault(key, []).append(value)

    for post in posts.values():  # warm-up: first-call allocations, page cache
        timed_ok(post, long_video)
    for round_no in range(ROUNDS):
        add("inproc_60s", timed_ok(posts["inproc"], long_video))
        add("http_60s", timed_ok(posts["1w"], long_video))
        add("lat_2w", timed_ok(posts["2w"], clip))
        add("lat_peer", timed_ok(posts["peer"], clip))
        for name in ("1w", "1w-off", "2w", "peer"):
            seconds, responses = batch(posts[name], clip)
            add(f"batch_{name}", seconds)
            if name != "peer":
                add(f"gaps_{name}", idle_gaps(responses))
        print(f"  round {round_no + 1}/{ROUNDS} done", flush=True)
    medians: dict[str, Any] = {}
    for key, values in samples.items():
        if key.startswith("gaps_"):
            medians[key] = tuple(statistics.median(v[i] for v in values) for i in range(2))
        else:
            medians[key] = statistics.median(values)
    return medians


def table(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    gap_on, busy_on = r["gaps_1w"]
    gap_off, busy_off = r["gaps_1w-off"]
    one, two, off, peer = r["batch_1w"], r["batch_2w"], r["batch_1w-off"], r["batch_peer"]
    inproc = r["inproc_60s"]
    return [
        (
            "one 60 s video: HTTP (1 worker) vs in-process",
            f"{r['http_60s']:.3f} s",
            f"{inproc:.3f} s",
            f"{r['http_60s'] / inproc:.2f}x the time",
        ),
        ("12 x 10 s videos: 2 workers vs 1", f"{two:.2f} s", f"{one:.2f} s", f"{one / two:.2f}x"),
        (
            "model idle between jobs (1 worker): prefetch on vs off",
            f"{gap_on * 1000:.0f} ms",
            f"{gap_off * 1000:.0f} ms",
            f"{gap_off / max(gap_on, 1e-4):.1f}x shorter",
        ),
        (
            "model busy share (1 worker): prefetch on vs off",
            f"{busy_on:.0%}",
            f"{busy_off:.0%}",
            "",
        ),
        (
            "12 x 10 s videos, 1 worker: prefetch on vs off",
            f"{one:.2f} s",
            f"{off:.2f} s",
            f"{off / one:.2f}x",
        ),
        (
            "one 10 s video: ours vs LitServe",
            f"{r['lat_2w']:.3f} s",
            f"{r['lat_peer']:.3f} s",
            f"{r['lat_2w'] / r['lat_peer']:.2f}x the time",
        ),
        (
            "12 x 10 s videos: ours vs LitServe",
            f"{two:.2f} s",
            f"{peer:.2f} s",
            f"{peer / two:.2f}x",
        ),
    ]


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    header = ("measure (2 workers unless said; medians of 3 rounds)", "first", "second", "ratio")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    print()
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--litserve-peer", nargs=3, metavar=("PORT", "MODEL", "WORKERS"))
    args = parser.parse_args(argv or [])
    if args.litserve_peer:
        port, model, workers = args.litserve_peer
        run_litserve_peer(int(port), model, int(workers))
        return
    if ls is None:
        print("  skipped: LitServe is not installed (pip install -e '.[bench]')")
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        run(Path(tmp))


if __name__ == "__main__":
    main(sys.argv[1:])
