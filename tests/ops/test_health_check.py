"""scripts/health_check.sh and restart_services.sh against a real background service."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import stat
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.ops.conftest import SCRIPTS, LiveService, ops_env, pid_alive, run, wait_for

HEALTHY, UNHEALTHY, RESTARTED, COOLDOWN, START_LIMIT, SKIPPED, LOCKED = range(7)
CONFIG_ERROR, STORAGE_ERROR = 9, 10


def check(service: LiveService, *args: str) -> tuple[int, str]:
    proc = service.script("health_check.sh", "--timeout", "2", *args, timeout=240)
    return proc.returncode, proc.stdout + proc.stderr


def state(service: LiveService) -> dict[str, int]:
    text = (service.data_dir / "health_check.state").read_text()
    return {k: int(v) for k, v in (line.split("=") for line in text.split())}


def log_text(service: LiveService) -> str:
    return (service.log_dir / "health_check.log").read_text()


def test_status_says_background_and_ready(live_service: LiveService) -> None:
    proc = live_service.script("restart_services.sh", "status")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mode: background" in proc.stdout
    assert f"process: running (pid {live_service.pid()})" in proc.stdout
    assert "health: ready" in proc.stdout


def test_healthy_does_nothing(live_service: LiveService) -> None:
    pid = live_service.pid()
    code, out = check(live_service, "--failures", "1", "--cooldown", "0")
    assert code == HEALTHY, out
    assert live_service.pid() == pid
    assert state(live_service)["failures"] == 0
    assert "healthy (HTTP 200, status ready" in log_text(live_service)


def test_stopped_service_is_restarted_after_the_threshold(live_service: LiveService) -> None:
    pid = live_service.pid()
    assert pid is not None
    os.kill(pid, signal.SIGTERM)  # gone without restart_services.sh stop: not on purpose
    wait_for(lambda: not pid_alive(pid), 60, "the service to exit")
    args = ("--failures", "2", "--cooldown", "0")

    code, out = check(live_service, *args)
    assert code == UNHEALTHY, out
    assert "failure 1 of 2" in out and live_service.pid() is None
    code, out = check(live_service, *args)
    assert code == RESTARTED, out
    new = live_service.pid()
    assert new is not None and new != pid
    assert "restarting tiktok-analyzer after 2 consecutive failures" in log_text(live_service)
    live_service.wait_ready()
    assert check(live_service, *args)[0] == HEALTHY


def test_wedged_service_is_restarted_and_the_cooldown_holds(live_service: LiveService) -> None:
    pid = live_service.pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # listening socket open, nobody answering
    args = ("--failures", "2", "--cooldown", "0")
    try:
        code, out = check(live_service, *args)
        assert code == UNHEALTHY, out
        assert "HTTP 000" in out
        code, out = check(live_service, *args)
        assert code == RESTARTED, out
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGCONT)
    assert not pid_alive(pid), "restart_services.sh must have ended the wedged process"
    live_service.wait_ready()

    # Wedged again right after a restart: counted, but the cooldown holds the next restart.
    new = live_service.pid()
    assert new is not None
    os.kill(new, signal.SIGSTOP)
    try:
        code, out = check(live_service, "--failures", "1", "--cooldown", "3600")
        assert code == COOLDOWN, out
        assert "in cooldown" in out
        assert live_service.pid() == new
    finally:
        os.kill(new, signal.SIGCONT)
    live_service.wait_ready(60)
    assert check(live_service)[0] == HEALTHY


def test_lock_prevents_a_second_run(live_service: LiveService) -> None:
    lock = live_service.data_dir / "health_check.lock"
    with open(lock, "a") as held:
        # Free right after the previous run: none of its children may keep the lock.
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        started = time.monotonic()
        code, out = check(live_service)
        assert code == LOCKED, out
        assert time.monotonic() - started < 10, "it must give up at once, not wait"
    assert "another health check is running" in log_text(live_service)
    assert check(live_service)[0] == HEALTHY


def test_stopped_on_purpose_is_left_alone(live_service: LiveService) -> None:
    stopped = live_service.script("restart_services.sh", "stop", timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert live_service.pid() is None
    status = live_service.script("restart_services.sh", "status")
    assert status.returncode == 3 and "process: not running" in status.stdout
    code, out = check(live_service, "--failures", "1", "--cooldown", "0")
    assert code == SKIPPED, out
    assert "stopped on purpose" in out and live_service.pid() is None
    started = live_service.script("restart_services.sh", "start", "--wait-ready")
    assert started.returncode == 0, started.stdout + started.stderr
    assert check(live_service)[0] == HEALTHY


# --- systemd's view, which cannot exist here: a stand-in systemctl --------------------------

FAKE_SYSTEMCTL = """#!/bin/sh
# fake_systemctl: systemd is not PID 1 on the test machine; this answers like it would.
echo "$*" >> "{calls}"
case "$*" in
  *"-p ActiveState"*) echo "{active}" ;;
  *"-p SubState"*) echo "{sub}" ;;
  *"-p Result"*) echo "{result}" ;;
  *"-p ExecMainStatus"*) echo "{exec_status}" ;;
  *"-p StatusText"*) echo "{status_text}" ;;
  restart*) exit 1 ;;
esac
"""


def with_fake_systemctl(
    tmp_path: Path,
    active: str,
    sub: str,
    result: str,
    exec_status: str = "0",
    status_text: str = "",
) -> dict[str, str]:
    bin_dir = tmp_path / "fake_systemd_bin"
    bin_dir.mkdir()
    calls = tmp_path / "systemctl.calls"
    script = bin_dir / "systemctl"
    script.write_text(
        FAKE_SYSTEMCTL.format(
            calls=calls,
            active=active,
            sub=sub,
            result=result,
            exec_status=exec_status,
            status_text=status_text,
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return ops_env(
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        TIKTOK_ANALYZER_SERVICE_MODE="systemd",
        TIKTOK_ANALYZER_DATA_DIR=str(tmp_path / "data"),
        TIKTOK_ANALYZER_LOG_DIR=str(tmp_path / "logs"),
        TIKTOK_ANALYZER_PORT="9",  # discard port: nothing answers
    )


def test_start_limit_hit_stops_restarting_loudly(tmp_path: Path) -> None:
    env = with_fake_systemctl(tmp_path, "failed", "failed", "start-limit-hit")
    for _ in range(3):
        proc = run([SCRIPTS / "health_check.sh", "--failures", "1", "--cooldown", "0"], env)
        assert proc.returncode == START_LIMIT, proc.stdout + proc.stderr
        assert "start limit hit" in proc.stderr and "NOT restarting" in proc.stderr
    calls = (tmp_path / "systemctl.calls").read_text()
    assert "restart" not in calls
    assert "start limit hit" in (tmp_path / "logs" / "health_check.log").read_text()


@pytest.mark.parametrize("active", ["activating", "deactivating"])
def test_starting_or_stopping_unit_is_skipped(tmp_path: Path, active: str) -> None:
    env = with_fake_systemctl(tmp_path, active, "start", "success")
    proc = run([SCRIPTS / "health_check.sh", "--failures", "1", "--cooldown", "0"], env)
    assert proc.returncode == SKIPPED, proc.stdout + proc.stderr
    assert f"is {active}" in proc.stdout
    assert "restart" not in (tmp_path / "systemctl.calls").read_text()


def test_failed_systemd_restart_is_reported(tmp_path: Path) -> None:
    env = with_fake_systemctl(tmp_path, "active", "running", "success")
    proc = run([SCRIPTS / "health_check.sh", "--failures", "1", "--cooldown", "0"], env)
    assert proc.returncode == 7, proc.stdout + proc.stderr
    assert "restart --no-block tiktok-analyzer" in (tmp_path / "systemctl.calls").read_text()


def test_exit_status_78_is_a_configuration_error_not_restarted(tmp_path: Path) -> None:
    reason = "permission denied: user tiktok-analyzer cannot read /srv/m/model.safetensors"
    env = with_fake_systemctl(tmp_path, "failed", "failed", "exit-code", "78", reason)
    for _ in range(2):
        proc = run([SCRIPTS / "health_check.sh", "--failures", "1", "--cooldown", "0"], env)
        assert proc.returncode == CONFIG_ERROR, proc.stdout + proc.stderr
        assert "configuration error" in proc.stderr and reason in proc.stderr
        assert "NOT restarting" in proc.stderr
    calls = (tmp_path / "systemctl.calls").read_text().splitlines()
    assert not [c for c in calls if c.startswith("restart")], calls


def test_other_exit_statuses_are_still_restarted(tmp_path: Path) -> None:
    """A transient failure (exit 1: a GPU not visible yet) is retried, as before."""
    env = with_fake_systemctl(tmp_path, "failed", "failed", "exit-code", "1")
    proc = run([SCRIPTS / "health_check.sh", "--failures", "1", "--cooldown", "0"], env)
    assert proc.returncode == 7, proc.stdout + proc.stderr  # the fake restart fails
    assert "restart --no-block tiktok-analyzer" in (tmp_path / "systemctl.calls").read_text()


MODEL_UNAVAILABLE = (
    "model_unavailable: permission denied: user tiktok-analyzer cannot read "
    "/srv/m/model.safetensors"
)
# What api/http/health.py's health_body answers while the job database cannot be written.
STORAGE_FULL = (
    "storage: disk full: cannot write the job database (database or disk is full); "
    "results are kept until it can write"
)


def _degraded(reason: str) -> type[BaseHTTPRequestHandler]:
    """What the front process answers, 503 degraded with ``reason``."""

    class Degraded(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = json.dumps({"status": "degraded", "ready": False, "reason": reason}).encode()
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Degraded


def _check_degraded(
    tmp_path: Path, reason: str, times: int
) -> list[subprocess.CompletedProcess[str]]:
    """Run the health check ``times`` times (threshold 1, no cooldown) against ``reason``."""
    server = HTTPServer(("127.0.0.1", 0), _degraded(reason))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = ops_env(
        TIKTOK_ANALYZER_PORT=str(server.server_address[1]),
        TIKTOK_ANALYZER_DATA_DIR=str(tmp_path / "data"),
        TIKTOK_ANALYZER_LOG_DIR=str(tmp_path / "logs"),
    )
    try:
        return [
            run([SCRIPTS / "health_check.sh", "--failures", "1", "--cooldown", "0"], env)
            for _ in range(times)
        ]
    finally:
        server.shutdown()
        server.server_close()


def test_model_unavailable_is_a_configuration_error_not_restarted(tmp_path: Path) -> None:
    for proc in _check_degraded(tmp_path, MODEL_UNAVAILABLE, 3):
        assert proc.returncode == CONFIG_ERROR, proc.stdout + proc.stderr
        assert "model_unavailable: permission denied" in proc.stderr
    log = (tmp_path / "logs" / "health_check.log").read_text()
    assert "restarting tiktok-analyzer" not in log and "restart done" not in log
    assert "failures=0" in (tmp_path / "data" / "health_check.state").read_text()


def test_full_disk_is_reported_not_restarted(tmp_path: Path) -> None:
    """A restart cannot free the disk and would lose the results the service keeps in memory."""
    for proc in _check_degraded(tmp_path, STORAGE_FULL, 3):
        assert proc.returncode == STORAGE_ERROR, proc.stdout + proc.stderr
        assert "storage: disk full" in proc.stderr and "NOT restarting" in proc.stderr
    log = (tmp_path / "logs" / "health_check.log").read_text()
    assert log.count("storage error: the service cannot write its job database") == 3
    assert "restarting tiktok-analyzer" not in log and "restart done" not in log
    assert "failures=0" in (tmp_path / "data" / "health_check.state").read_text()


def test_usage() -> None:
    proc = run([SCRIPTS / "health_check.sh", "-h"], ops_env())
    assert proc.returncode == 0 and "exit codes:" in proc.stdout
    assert run([SCRIPTS / "health_check.sh", "--bogus"], ops_env()).returncode == 64
    assert run([SCRIPTS / "restart_services.sh", "bogus"], ops_env()).returncode == 64


def test_cron_job_line_leaves_no_lock_behind(live_service: LiveService, tmp_path: Path) -> None:
    """The cron line restarts a dead service; the restarted server must not keep the cron lock."""
    from tests.ops.test_cron import jobs, rendered

    (command,) = [c for _, _, c in jobs() if "health_check.sh" in c]
    line = rendered(command).replace("/run/lock/", f"{tmp_path}/")
    lock = tmp_path / "tiktok-analyzer-health.lock"
    pid = live_service.pid()
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not pid_alive(pid), 60, "the service to exit")
    env = dict(
        live_service.env,
        TIKTOK_ANALYZER_HEALTH_FAILURES="1",
        TIKTOK_ANALYZER_HEALTH_COOLDOWN_S="0",
    )
    proc = run(["sh", "-c", line], env, timeout=240)
    assert proc.returncode == RESTARTED, proc.stderr
    assert live_service.pid() not in (None, pid)
    free = run(["flock", "-n", lock, "true"], env)
    assert free.returncode == 0, "the restarted server holds the cron job's lock"
    live_service.wait_ready()
