"""scripts/gpu_cleanup.py: no-GPU behaviour, the orphan sweep, a real service left alone."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitoring.gpu import NoGpuError, read_gpus
from tests.ops.conftest import (
    SCRIPTS,
    VENV_PYTHON,
    LiveService,
    ops_env,
    pid_alive,
    run,
    wait_for,
)

CLEANUP = SCRIPTS / "gpu_cleanup.py"
SLEEP = "import time; time.sleep(120)"
IGNORE_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"


def has_gpu() -> bool:
    try:
        read_gpus()
    except NoGpuError:
        return False
    return True


def orphan(*argv: str) -> int:
    """Start argv from a shell that exits at once, so its parent is gone like a crashed front."""
    line = " ".join(f"'{a}'" for a in argv)
    out = subprocess.run(
        ["sh", "-c", f"{line} >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


@pytest.fixture
def spawned() -> Iterator[list[int]]:
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def cleanup(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run([VENV_PYTHON, CLEANUP, "--min-age", "0", "--grace", "2", *args], env, timeout=60)


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_without_gpu_says_so_and_exits_0(tmp_path: Path) -> None:
    if has_gpu():
        pytest.skip("this machine has an NVIDIA GPU")
    env = ops_env(TIKTOK_ANALYZER_LOG_DIR=str(tmp_path))
    proc = run([VENV_PYTHON, CLEANUP, "--no-sweep"], env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "no NVIDIA GPU" in proc.stdout
    assert "no NVIDIA GPU" in (tmp_path / "gpu_cleanup.log").read_text()


def test_sweep_ends_only_orphaned_workers(tmp_path: Path, spawned: list[int]) -> None:
    fake_orphan_worker = orphan(str(VENV_PYTHON), "-c", SLEEP, "--multiprocessing-fork")
    stubborn_orphan_worker = orphan(str(VENV_PYTHON), "-c", IGNORE_TERM, "--multiprocessing-fork")
    unrelated_orphan = orphan("sleep", "120")
    with_parent = subprocess.Popen([VENV_PYTHON, "-c", SLEEP, "--multiprocessing-fork"])
    spawned += [fake_orphan_worker, stubborn_orphan_worker, unrelated_orphan, with_parent.pid]
    wait_for(lambda: parent_of(fake_orphan_worker) != os.getpid(), 5, "reparenting")
    if parent_of(fake_orphan_worker) != 1:
        pytest.skip("orphans are adopted by a subreaper here, not by PID 1")
    env = ops_env(TIKTOK_ANALYZER_LOG_DIR=str(tmp_path))
    pid_args = [a for pid in spawned for a in ("--pid", str(pid))]

    dry = cleanup(env, "--dry-run", "--no-sweep", *pid_args)
    assert dry.returncode == 0
    dry = cleanup(env, "--dry-run", *pid_args)
    assert dry.returncode == 0, dry.stderr
    assert f"pid {fake_orphan_worker} (parent gone): would send SIGTERM" in dry.stdout
    assert all(pid_alive(p) for p in spawned)

    proc = cleanup(env, *pid_args)
    assert proc.returncode == 0, proc.stderr
    assert not pid_alive(fake_orphan_worker)
    assert not pid_alive(stubborn_orphan_worker)
    assert f"pid {stubborn_orphan_worker} still running after 2s: sending SIGKILL" in proc.stdout
    assert pid_alive(unrelated_orphan), "not our command line: must be left alone"
    assert pid_alive(with_parent.pid), "its parent lives: not an orphan"
    log = (tmp_path / "gpu_cleanup.log").read_text()
    assert f"pid {fake_orphan_worker} gone" in log
    with_parent.kill()
    with_parent.wait()


def test_young_orphans_are_spared(tmp_path: Path, spawned: list[int]) -> None:
    young = orphan(str(VENV_PYTHON), "-c", SLEEP, "--multiprocessing-fork")
    spawned.append(young)
    env = ops_env(TIKTOK_ANALYZER_LOG_DIR=str(tmp_path))
    proc = run([VENV_PYTHON, CLEANUP, "--pid", str(young)], env, timeout=60)
    assert proc.returncode == 0
    assert pid_alive(young) and "no orphaned workers" in proc.stdout


def test_live_service_is_left_alone_and_its_orphans_are_ended(
    live_service: LiveService, tmp_path: Path, spawned: list[int]
) -> None:
    front = live_service.pid()
    assert front is not None
    _, health = live_service.health()
    workers = [int(w["pid"]) for w in health["workers"]]  # type: ignore[index, union-attr]
    env = dict(live_service.env)
    # An orphan started by the same interpreter path as the service's real workers.
    worker_python = Path(f"/proc/{workers[0]}/cmdline").read_bytes().split(b"\0")[0].decode()
    fake_orphan_worker = orphan(worker_python, "-c", SLEEP, "--multiprocessing-fork")
    spawned.append(fake_orphan_worker)
    pids = [front, *workers, fake_orphan_worker]
    pid_args = [a for pid in pids for a in ("--pid", str(pid))]

    proc = cleanup(env, "--always-release", *pid_args)
    assert proc.returncode == 0, proc.stderr
    assert "asked idle workers to release cached GPU memory: HTTP 200" in proc.stdout
    assert f"orphaned worker pid {fake_orphan_worker}" in proc.stdout
    assert not pid_alive(fake_orphan_worker)
    assert all(pid_alive(p) for p in [front, *workers]), "the service's own tree is never touched"
    assert live_service.health()[0] == 200
