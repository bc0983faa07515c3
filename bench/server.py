"""Servers for the benchmarks: `python -m api.server` processes side by side, stopped after."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def poll(ready: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """Call ``ready`` until it says yes; RuntimeError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout} s")
        time.sleep(interval)


def answers(
    proc: subprocess.Popen[bytes], log: Path, url: str, accept: Callable[[httpx.Response], bool]
) -> bool:
    """``url`` answers as ``accept`` wants; RuntimeError with the log's end if ``proc`` died."""
    if proc.poll() is not None:
        raise RuntimeError(f"{proc.args} exited:\n{log.read_text(errors='replace')[-3000:]}")
    try:
        return accept(httpx.get(url, timeout=5))
    except httpx.HTTPError:
        return False


def upload(client: httpx.Client, video: Path, **fields: Any) -> httpx.Response:
    """POST /analyze with the video as the upload and ``fields`` as form fields."""
    upload = {"file": (video.name, video.read_bytes(), "video/mp4")}
    return client.post("/analyze", files=upload, data={k: str(v) for k, v in fields.items()})


def front_memory(client: httpx.Client) -> tuple[float, float]:
    """(C heap in use, resident set) of the front in bytes, read from its /metrics."""
    wanted = ("tiktok_analyzer_heap_in_use_bytes", "process_resident_memory_bytes")
    lines = (line.partition(" ") for line in client.get("/metrics").text.splitlines())
    values = {name: float(value) for name, _, value in lines if name in wanted}
    return values[wanted[0]], values[wanted[1]]


class BenchServer:
    """One server on a free port, its data and log below ``root``; CPU, fp32, the model given."""

    def __init__(self, root: Path, model_dir: Path, **settings: Any) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "server.out"
        chosen = {"model": model_dir, "quantization": "fp32", "device": "cpu", "port": self.port}
        chosen |= {"host": "127.0.0.1", "data_dir": root / "data", "log_dir": root / "logs"}
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTOK_ANALYZER_")}
        env |= {f"TIKTOK_ANALYZER_{k.upper()}": str(v) for k, v in (chosen | settings).items()}
        env |= {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api.server"], cwd=ROOT, env=env, stdout=out, stderr=out
            )

    def ready(self) -> bool:
        """/health answers 200: every worker is up."""
        return answers(self.proc, self.log, f"{self.url}/health", lambda r: r.status_code == 200)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=600, **kwargs)

    def stop(self) -> None:
        """SIGTERM (the server drains), SIGKILL if it has not ended after 90 s."""
        self.proc.terminate()
        try:
            self.proc.wait(90)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@contextmanager
def serving(
    root: Path, model_dir: Path, configs: dict[str, dict[str, Any]], timeout: float = 300
) -> Iterator[dict[str, BenchServer]]:
    """One server per config, named as the configs are, started together and ready."""
    servers: dict[str, BenchServer] = {}
    try:
        for name, settings in configs.items():
            servers[name] = BenchServer(root / name, model_dir, **settings)
        for name, server in servers.items():
            poll(server.ready, timeout, f"server {name}")
        yield servers
    finally:
        for server in servers.values():
            server.stop()
