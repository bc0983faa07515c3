"""A real `python -m api.server` in a subprocess on a free port, and HTTP helpers for it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
FINAL = {"done", "failed", "cancelled"}
#: settings for the cheapest real job: one frame, no OCR, speech or keyframes (soaks)
ONE_FRAME_JOBS = {
    "frames": 1,
    "sampling": "uniform",
    "ocr": "false",
    "transcribe": "false",
    "keyframes": "false",
    "log_level": "WARNING",
}


def hanging(seconds: float) -> dict[str, Any]:
    """Settings for a server whose every model call hangs ``seconds`` (a stuck GPU call)."""
    # The analyzer is analyzers.testing.hanging's; it reads TIKTOK_ANALYZER_TEST_HANG_S, which
    # spawned workers inherit (Ray actors of a cluster started elsewhere hang its default 2 s).
    return {"analyzer": "blip2-hanging", "test_hang_s": seconds}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """Starts, probes and stops one server; restarts keep its port and data directory."""

    def __init__(self, root: Path, model_dir: Path, **settings: Any) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = self._env(model_dir, settings)
        self.proc: subprocess.Popen[bytes] | None = None
        self.api_key: str | None = settings.get("api_key")

    def _env(self, model_dir: Path, settings: dict[str, Any]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTOK_ANALYZER_")}
        env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
        base = {
            "model": model_dir,
            "quantization": "fp32",
            "device": "cpu",
            "workers": 2,
            "host": "127.0.0.1",
            "port": self.port,
            "data_dir": self.root / "data",
            "log_dir": self.root / "logs",
            "frames": 2,
            "heartbeat_interval_s": 0.5,
            "drain_timeout_s": 30,
        }
        base.update(settings)
        env.update({f"TIKTOK_ANALYZER_{k.upper()}": str(v) for k, v in base.items()})
        return env

    @property
    def uploads_dir(self) -> Path:
        return self.root / "data" / "uploads"

    @property
    def log_file(self) -> Path:
        return self.root / "logs" / "stable_multiprocess_api.log"

    def set(self, **settings: Any) -> None:
        """Change settings for the next start."""
        self.env.update({f"TIKTOK_ANALYZER_{k.upper()}": str(v) for k, v in settings.items()})

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        out = open(self.root / "server.out", "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.server"],
            cwd=REPO,
            env={**self.env, **(extra_env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def output(self) -> str:
        path = self.root / "server.out"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key} if self.api_key else {}

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", 120.0)
        kwargs.setdefault("headers", self.headers())
        return httpx.Client(base_url=self.url, **kwargs)

    def health(self) -> tuple[int, dict[str, Any]]:
        response = httpx.get(f"{self.url}/health", headers=self.headers(), timeout=10.0)
        return response.status_code, response.json()

    def wait_live(self, timeout: float = 60.0) -> None:
        """Poll /health/live until the HTTP side answers, whatever the workers do."""

        def live() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                return httpx.get(f"{self.url}/health/live", timeout=5.0).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(live, timeout, "/health/live")

    def wait_ready(self, timeout: float = 180.0, all_workers: bool = True) -> dict[str, Any]:
        """Poll /health until 200 (and every worker READY when asked); fail with the log."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                status, body = self.health()
                last = body
                states = {w["state"] for w in body["workers"]}
                if status == 200 and (not all_workers or states <= {"READY"}):
                    return body
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.2)
        raise AssertionError(f"not ready after {timeout} s: {last}\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 90.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(
                f"server did not stop within {timeout} s:\n{self.output()}"
            ) from None

    def wait_exit(self, timeout: float = 90.0) -> int:
        """Wait for the process to end on its own (after a signal already sent)."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"server still running after {timeout} s:\n{self.output()}"
            ) from None

    def ensure_stopped(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def exit_code(self, extra_env: dict[str, str] | None = None, timeout: float = 60.0) -> int:
        """Start a server expected to exit by itself (a start-up failure); its exit status."""
        self.start(extra_env)
        try:
            return self.wait_exit(timeout)
        finally:
            self.ensure_stopped()

    @contextmanager
    def running(
        self, extra_env: dict[str, str] | None = None, *, ready: bool = True
    ) -> Iterator[ServerProcess]:
        """Started inside the block (ready, or only answering when not ``ready``); stopped
        (SIGTERM, else SIGKILL) after it, also when the block restarted it."""
        self.start(extra_env)
        try:
            if ready:
                self.wait_ready()
            else:
                self.wait_live()
            yield self
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.stop(signal.SIGTERM)
            self.ensure_stopped()


def post_video(
    client: httpx.Client,
    path: Path,
    *,
    filename: str | None = None,
    params: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    **fields: str | int,
) -> httpx.Response:
    with open(path, "rb") as fh:
        files = {"file": (filename or path.name, fh, "video/mp4")}
        data = {**(form or {}), **{k: str(v) for k, v in fields.items()}}
        return client.post("/analyze", files=files, data=data, params=params)


def submit(client: httpx.Client, path: Path, **fields: Any) -> str:
    """Queue a video without waiting for its result; the new job's id."""
    response = post_video(client, path, wait="false", **fields)
    assert response.status_code in (200, 202), response.text
    job_id: str = response.json()["id"]
    return job_id


def front_memory(client: httpx.Client) -> tuple[float, float]:
    """(C heap in use, resident set) of the front in bytes, from its own /metrics."""
    found = dict(line.partition(" ")[::2] for line in client.get("/metrics").text.splitlines())
    return float(found["tiktok_analyzer_heap_in_use_bytes"]), float(
        found["process_resident_memory_bytes"]
    )


def wait_final(client: httpx.Client, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] in FINAL:
            return body
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not final after {timeout} s: {body}")


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class NotifyListener:
    """A bound AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, name: str) -> None:
        self.address = "@" + name  # abstract namespace: no file, no path length trouble
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + name)
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append(data.decode())

    def received(self, line: str) -> bool:
        return any(line in m.split("\n") for m in list(self.messages))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@contextmanager
def serve_once(body: bytes, content_type: str = "text/html") -> Iterator[str]:
    """A page of another origin (another port) that answers ``body`` to every GET."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
