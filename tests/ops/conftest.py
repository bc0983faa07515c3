"""Operations tests: the real scripts, Debian tools and a real background service."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"


def need_tool(name: str) -> str:
    """Path of a Debian tool; `make test` installs them, so only a non-root run may skip."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        if os.geteuid() == 0:
            pytest.fail(f"{name} is missing; `make test` installs it")
        pytest.skip(f"{name} is not installed (run make test as root, or apt-get install it)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ops_env(**extra: str) -> dict[str, str]:
    """The caller's environment without its TIKTOK_ANALYZER_* settings, never the real service's.

    Background mode is forced so that a developer machine running the real unit is never
    touched, and the system env file is ignored.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTOK_ANALYZER_")}
    env.update(
        TIKTOK_ANALYZER_ENV_FILE="/nonexistent/tiktok-analyzer.env",
        TIKTOK_ANALYZER_SERVICE_MODE="background",
    )
    env.update(extra)
    return env


def run(
    cmd: list[str | Path], env: dict[str, str], timeout: float = 120, check: bool = False
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@dataclass
class LiveService:
    """A real `tiktok-analyzer serve` managed by restart_services.sh in background mode."""

    env: dict[str, str]
    data_dir: Path
    log_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(
        self, name: str, *args: str, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        return run([SCRIPTS / name, *args], self.env, timeout=timeout)

    def pid(self) -> int | None:
        try:
            pid = int((self.data_dir / "tiktok-analyzer.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def health(self) -> tuple[int, dict[str, object]]:
        import json
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def is_ready(self) -> bool:
        try:
            return self.health()[0] == 200
        except (OSError, ValueError):
            return False

    def wait_ready(self, timeout: float = 180) -> None:
        wait_for(self.is_ready, timeout, f"{self.url}/health to be ready")


@pytest.fixture(scope="module")
def live_service(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveService]:
    """Started with restart_services.sh start; stopped (and its group killed) at the end."""
    need_tool("curl")
    need_tool("flock")
    if not (REPO / ".venv" / "bin" / "tiktok-analyzer").exists():
        pytest.fail("no .venv/bin/tiktok-analyzer: run make install")
    base = tmp_path_factory.mktemp("live")
    port = free_port()
    env = ops_env(
        TIKTOK_ANALYZER_MODEL=str(tiny_model_dir),
        TIKTOK_ANALYZER_QUANTIZATION="fp32",
        TIKTOK_ANALYZER_DEVICE="cpu",
        TIKTOK_ANALYZER_WORKERS="1",
        TIKTOK_ANALYZER_HOST="127.0.0.1",
        TIKTOK_ANALYZER_PORT=str(port),
        TIKTOK_ANALYZER_DATA_DIR=str(base / "data"),
        TIKTOK_ANALYZER_LOG_DIR=str(base / "logs"),
        TIKTOK_ANALYZER_DRAIN_TIMEOUT_S="3",
        TIKTOK_ANALYZER_START_WAIT_S="90",
    )
    service = LiveService(env, base / "data", base / "logs", port)
    started = service.script("restart_services.sh", "start")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        service.wait_ready()
        yield service
    finally:
        pid = service.pid()
        service.script("restart_services.sh", "stop", timeout=120)
        if pid is not None:  # belt and braces: nothing of ours may outlive the tests
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, 9)
