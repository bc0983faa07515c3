"""restart_services.sh when the port is answered by a server it did not start."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.ops.conftest import SCRIPTS, free_port, ops_env, run

NOT_OURS = 4


class _Other(BaseHTTPRequestHandler):
    """Someone else's server: `make run` in another shell, another checkout."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def other_server() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Other)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def env_for(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    return ops_env(
        TIKTOK_ANALYZER_PORT=str(port),
        TIKTOK_ANALYZER_DATA_DIR=str(tmp_path / "data"),
        TIKTOK_ANALYZER_LOG_DIR=str(tmp_path / "logs"),
        **extra,
    )


def test_status_names_a_server_it_did_not_start(tmp_path: Path, other_server: int) -> None:
    proc = run([SCRIPTS / "restart_services.sh", "status"], env_for(tmp_path, other_server))
    out = proc.stdout
    assert proc.returncode == NOT_OURS, out + proc.stderr
    assert "process: not running" in out
    assert f"something answers on http://127.0.0.1:{other_server}" in out
    assert "restart_services.sh did not start" in out
    if os.geteuid() == 0:  # ss names other users' listeners only to root
        assert f"pid {os.getpid()}:" in out, out
    assert "health: not ready: HTTP 404" in out


def test_status_without_any_server_says_not_running(tmp_path: Path, other_server: int) -> None:
    # Nothing on this port: the other server is on its own.
    free = other_server + 1 if other_server < 65535 else other_server - 1
    proc = run([SCRIPTS / "restart_services.sh", "status"], env_for(tmp_path, free))
    if "something answers" in proc.stdout:
        pytest.skip(f"port {free} happens to be in use")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "process: not running" in proc.stdout


def test_start_refuses_a_port_someone_else_answers(tmp_path: Path, other_server: int) -> None:
    env = env_for(tmp_path, other_server, TIKTOK_ANALYZER_BIN="/bin/false")
    proc = run([SCRIPTS / "restart_services.sh", "start"], env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "not started by this script" in proc.stderr
    assert not (tmp_path / "data" / "tiktok-analyzer.pid").exists()


def test_systemd_status_names_a_server_the_unit_did_not_start(
    tmp_path: Path, other_server: int
) -> None:
    bin_dir = tmp_path / "fake_systemd_bin"
    bin_dir.mkdir()
    fake = bin_dir / "systemctl"
    # fake_systemctl: systemd is not PID 1 here; this one says the unit is inactive.
    fake.write_text(
        '#!/bin/sh\ncase "$*" in *"--value"*) echo inactive ;; *) echo ActiveState=inactive ;; '
        "esac\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = env_for(
        tmp_path,
        other_server,
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        TIKTOK_ANALYZER_SERVICE_MODE="systemd",
    )
    proc = run([SCRIPTS / "restart_services.sh", "status"], env)
    assert proc.returncode == NOT_OURS, proc.stdout + proc.stderr
    assert "mode: systemd" in proc.stdout
    assert "the unit tiktok-analyzer did not start" in proc.stdout


def test_start_wait_ready_stops_at_a_configuration_error(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """A real server whose model has no weights file: 78 at once, not a 900 s wait.

    Depends on the service's side of issue 8 (/health: model_unavailable, exit 78).
    """
    model = tmp_path / "model-without-weights"
    shutil.copytree(tiny_model_dir, model, ignore=shutil.ignore_patterns("*.safetensors"))
    env = env_for(
        tmp_path,
        free_port(),
        TIKTOK_ANALYZER_MODEL=str(model),
        TIKTOK_ANALYZER_QUANTIZATION="fp32",
        TIKTOK_ANALYZER_DEVICE="cpu",
        TIKTOK_ANALYZER_WORKERS="1",
        TIKTOK_ANALYZER_HOST="127.0.0.1",
        TIKTOK_ANALYZER_START_WAIT_S="90",
        TIKTOK_ANALYZER_READY_WAIT_S="240",
    )
    try:
        proc = run([SCRIPTS / "restart_services.sh", "start", "--wait-ready"], env, timeout=300)
        assert proc.returncode == 78, proc.stdout + proc.stderr
        assert "configuration error" in proc.stderr
    finally:
        pid_file = tmp_path / "data" / "tiktok-analyzer.pid"
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        run([SCRIPTS / "restart_services.sh", "stop"], env, timeout=120)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, 9)
