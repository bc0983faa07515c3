"""scripts/rotate_logs.sh with the real logrotate, a private state file and a live writer."""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ops.conftest import REPO, SCRIPTS, need_tool, ops_env, run, wait_for

pytestmark = pytest.mark.system

LOG_NAME = "stable_multiprocess_api.log"

# The service's own logging set-up (queue -> listener -> WatchedFileHandler) writing
# numbered lines until its stdin closes.
WRITER = f"""
import logging, sys, threading, time
sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
from api.logging_setup import setup_front_logging

front = setup_front_logging(Path(sys.argv[1]), "INFO")
log = logging.getLogger("writer")
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
n = 0
while not stop.is_set():
    log.info("line %d", n)
    n += 1
    time.sleep(0.005)
front.stop()
print(n)
"""


def read_any(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return f.read()
    return path.read_text(encoding="utf-8")


def rotate(log_dir: Path, state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run(
        [SCRIPTS / "rotate_logs.sh", "--log-dir", log_dir, "--state", state, *extra],
        ops_env(),
        check=True,
    )


def test_rotation_compresses_and_the_live_writer_follows(tmp_path: Path) -> None:
    need_tool("logrotate")
    log_dir, state = tmp_path / "logs", tmp_path / "state" / "logrotate.state"
    log_dir.mkdir()
    log_file = log_dir / LOG_NAME
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(log_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_for(lambda: log_file.exists() and log_file.stat().st_size > 0, 30, "first lines")
        for _ in range(2):
            rotate(log_dir, state, "--force")
            # The writer must come back to the new file on its own.
            wait_for(lambda: log_file.exists() and log_file.stat().st_size > 0, 10, "new lines")
            time.sleep(0.2)
        out, _ = writer.communicate("", timeout=30)
    finally:
        writer.kill()
    written = int(out.strip())

    names = sorted(p.name for p in log_dir.iterdir())
    assert names == [LOG_NAME, f"{LOG_NAME}.1", f"{LOG_NAME}.2.gz"], names
    # delaycompress: the newest rotation stays plain, the older one is gzip'd.
    assert (log_dir / f"{LOG_NAME}.2.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert log_file.stat().st_mode & 0o777 == 0o640  # create 0640
    seen = [
        int(m) for p in log_dir.iterdir() for m in re.findall(r"writer:? line (\d+)", read_any(p))
    ]
    assert sorted(seen) == list(range(written)), "lines were lost or duplicated by rotation"
    assert str(log_file) in state.read_text()


def test_private_state_file_makes_it_daily(tmp_path: Path) -> None:
    need_tool("logrotate")
    log_dir, state = tmp_path / "logs", tmp_path / "logrotate.state"
    log_dir.mkdir()
    (log_dir / "health_check.log").write_text("one\n")
    (log_dir / "system_monitor.jsonl").write_text("{}\n")
    rotate(log_dir, state, "--force")
    assert (log_dir / "health_check.log.1").exists()
    assert (log_dir / "system_monitor.jsonl.1").exists()
    (log_dir / "health_check.log").write_text("two\n")
    # Not forced: rotated today already, according to our own state file.
    rotate(log_dir, state)
    assert not (log_dir / "health_check.log.2.gz").exists()
    assert (log_dir / "health_check.log").read_text() == "two\n"
    # notifempty: an empty file is not rotated even when forced.
    (log_dir / "empty.log").touch()
    rotate(log_dir, state, "--force")
    assert not (log_dir / "empty.log.1").exists()


def test_installed_config_is_valid_for_logrotate(tmp_path: Path) -> None:
    tool = need_tool("logrotate")
    run(
        [SCRIPTS / "install.sh", "--root", tmp_path, "--venv", REPO / ".venv", "--user", "root"],
        ops_env(),
        check=True,
    )
    conf = tmp_path / "etc/tiktok-analyzer/logrotate.conf"
    proc = run([tool, "--debug", "--state", tmp_path / "state", conf], ops_env())
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr.lower(), proc.stderr
    assert "/opt/tiktok-analyzer/logs/*.log" in proc.stderr + proc.stdout
