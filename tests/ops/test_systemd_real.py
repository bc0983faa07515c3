"""The installed unit under a real systemd: one booted Debian container for every check.

The production install as an operator runs it: install.sh builds the service's own
virtualenv with pip from the declared dependencies alone (a wheel folder of exactly those,
no dev extras, no borrowed site-packages), first for an older release that lacked a
dependency, then over it for this one (the upgrade must pick the new dependency up).
Then `systemctl enable --now` with the tiny model, an analysis, a restart that keeps
queued jobs, kill -9 of the main process, the watchdog on a stopped main process, a clean
stop, restart_services.sh status facing a server the unit did not start, and a
configuration error (weights the service user cannot read) that fails the start at once,
says why, and is not restarted in a loop, by systemd or by health_check.sh.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.conftest import REPO, need_tool, wait_for
from tests.support.nspawn import CACHE, CannotBoot, Container, booted, cached_rootfs
from tests.support.wheelhouse import wheelhouse

pytestmark = pytest.mark.system

UNIT = "tiktok-analyzer"
PREFIX = "/opt/tiktok-analyzer"
VENV = f"{PREFIX}/.venv"
URL = "http://127.0.0.1:8003"
#: the CPU build on this disk; a GPU server leaves install.sh's default (plain "torch")
TORCH_SPEC = "torch==2.13.0"
#: the dependency the older release left out (it was only in the dev extra: issue 16)
DROPPED = "httpx"
#: exit status for an error a restart cannot fix (EX_CONFIG); the unit must not loop on it
EX_CONFIG = 78
#: health_check.sh's exit code for a configuration error
HEALTH_CONFIG_ERROR = 9
BASE_ENV = {
    "TIKTOK_ANALYZER_MODEL": "/srv/model-ok",
    "TIKTOK_ANALYZER_QUANTIZATION": "fp32",
    "TIKTOK_ANALYZER_DEVICE": "cpu",
    "TIKTOK_ANALYZER_WORKERS": "1",
    "TIKTOK_ANALYZER_OCR": "false",
    "TIKTOK_ANALYZER_TRANSCRIBE": "false",
    "TIKTOK_ANALYZER_DRAIN_TIMEOUT_S": "5",
}
#: pip inside sees the wheel folder and nothing else (the container has no network anyway)
PIP_ENV = ("env", "PIP_NO_INDEX=1", "PIP_FIND_LINKS=/srv/wheels", "PIP_NO_CACHE_DIR=1")


def skip_unless_possible() -> None:
    if os.geteuid() != 0:
        pytest.skip("systemd-nspawn and the overlay mount need root")
    # bookworm's python3 is 3.11: the wheels are downloaded here for this interpreter.
    if sys.version_info[:2] != (3, 11):
        pytest.skip("the wheels for Debian bookworm's Python 3.11 are fetched by a Python 3.11")
    for tool in ("debootstrap", "systemd-nspawn", "nsenter", "mount"):
        need_tool(tool)


def env_file(**changes: str) -> str:
    return "".join(f"{k}={v}\n" for k, v in {**BASE_ENV, **changes}.items())


def older_release(dest: Path) -> Path:
    """This checkout as the release before it: the same code, one dependency undeclared."""
    for part in ("api", "analyzers", "monitoring", "scripts", "deploy", "docs"):
        shutil.copytree(REPO / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    pyproject = dest / "pyproject.toml"
    lines = pyproject.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not line.strip().startswith(f'"{DROPPED}')]
    assert len(kept) == len(lines) - 1, f"pyproject.toml declares {DROPPED} once"
    pyproject.write_text("".join(kept))
    return dest


def install(box: Container, source: str) -> str:
    """install.sh from `source` inside, as root, building its own virtualenv."""
    cmd = (*PIP_ENV, f"{source}/scripts/install.sh", "--torch", TORCH_SPEC)
    return box.run(*cmd, timeout=900, check=True).stdout


def venv_imports(box: Container, module: str) -> bool:
    return box.run(f"{VENV}/bin/python", "-c", f"import {module}").returncode == 0


def prepare_inside(box: Container) -> str:
    """An older release installed, then this one over it; returns what both runs printed."""
    first = install(box, "/srv/old-src")
    assert not venv_imports(box, DROPPED), f"the older release's venv has {DROPPED}"
    out = install(box, "/srv/src")
    assert f"pip install -e {PREFIX} into {VENV}" in out, out
    assert venv_imports(box, DROPPED), f"the upgrade did not install {DROPPED}"
    # No dev extra came along: the service runs on what the project declares.
    assert not venv_imports(box, "pytest"), "a dev dependency reached the service's venv"
    box.write("/etc/tiktok-analyzer/env", env_file(), 0o640)
    return first + out


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    skip_unless_possible()
    from analyzers.testing.clips import make_video
    from analyzers.testing.tiny_model import make_test_model

    work = tmp_path_factory.mktemp("nspawn")
    try:
        rootfs = cached_rootfs(work / "debootstrap.log")
    except CannotBoot as exc:
        pytest.skip(f"cannot build the container: {exc}")
    wheels = wheelhouse(CACHE, REPO / "pyproject.toml", TORCH_SPEC, work / "pip-download.log")
    model = make_test_model(work / "model")
    clip = make_video(work / "clip.mp4", width=160, height=288, duration_s=2, fps=10)
    old = older_release(work / "old-src")
    binds = {REPO: "/srv/src", old: "/srv/old-src", wheels: "/srv/wheels"}
    try:
        with booted(work, rootfs, binds) as container:
            srv = container.root / "srv"
            shutil.copytree(model, srv / "model-ok")
            for f in (srv / "model-ok").iterdir():
                f.chmod(0o644)
            # Weights mode 600 owned by root, as a download (or make-test-model) run as root
            # leaves them: the service user cannot read them.
            shutil.copytree(srv / "model-ok", srv / "model-denied")
            os.chown(srv / "model-denied" / "model.safetensors", 0, 0)
            (srv / "model-denied" / "model.safetensors").chmod(0o600)
            shutil.copy(clip, srv / "clip.mp4")
            container.install_log = prepare_inside(container)
            yield container
    except CannotBoot as exc:
        pytest.skip(f"systemd-nspawn cannot boot a container here: {exc}")


def show(box: Container, *props: str) -> dict[str, str]:
    return box.show(UNIT, *props)


def health(box: Container) -> tuple[int, dict[str, object]]:
    out = box.run("curl", "-s", "-m", "5", "-w", "\n%{http_code}", f"{URL}/health").stdout
    body, _, code = out.rpartition("\n")
    try:
        return int(code), json.loads(body)
    except ValueError:
        return 0, {}


def start_time(box: Container, pid: int) -> str | None:
    """Identity of a live process inside (pid plus start time), None once it is gone."""
    stat = box.run("cat", f"/proc/{pid}/stat").stdout
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def signal_inside(box: Container, name: str, pid: int) -> None:
    box.sh(f"kill -{name} {pid}")  # the shell's kill: minbase has no procps


def worker_pids(box: Container) -> list[int]:
    _, doc = health(box)
    workers = doc.get("workers") or []
    assert isinstance(workers, list)
    return [int(w["pid"]) for w in workers if w.get("pid")]


def journal(box: Container, since: str = "") -> str:
    args = ["journalctl", "-u", UNIT, "--no-pager", "-o", "cat"]
    if since:
        args += ["--since", since]
    return box.run(*args).stdout


def wait_active(box: Container, timeout: float = 120) -> dict[str, str]:
    props: dict[str, str] = {}

    def active() -> bool:
        props.update(show(box, "ActiveState", "SubState", "StatusText", "MainPID", "NRestarts"))
        return props["ActiveState"] == "active" and props["StatusText"] == "1/1 workers ready"

    try:
        wait_for(active, timeout, f"{UNIT} to be active with all workers ready")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {props}\n{journal(box)[-3000:]}") from None
    return props


def ensure_ready(box: Container) -> dict[str, str]:
    """Each check starts from a running service, whatever the one before it left."""
    if show(box, "ActiveState")["ActiveState"] != "active":
        box.run("systemctl", "reset-failed", UNIT)
        box.run("systemctl", "start", "--no-block", UNIT, check=True)
    return wait_active(box)


def submit(box: Container) -> str:
    out = box.run(
        "curl", "-s", "-m", "30", "-F", "file=@/srv/clip.mp4", "-F", "frames=2",
        f"{URL}/analyze?wait=false", check=True,
    ).stdout  # fmt: skip
    return str(json.loads(out)["id"])


def job_status(box: Container, job_id: str) -> str:
    out = box.run("curl", "-s", "-m", "5", f"{URL}/jobs/{job_id}").stdout
    try:
        return str(json.loads(out)["status"])
    except (ValueError, KeyError):
        return "unreachable"


def test_install_and_enable_now_reach_ready(box: Container) -> None:
    log = box.install_log
    assert f"install: /etc/systemd/system/{UNIT}.service" in log
    assert "systemctl daemon-reload" in log
    assert box.run("id", "-u", "tiktok-analyzer").returncode == 0, "no service user"
    started = time.monotonic()
    proc = box.run("systemctl", "enable", "--now", UNIT, timeout=300)
    print(f"enable --now returned after {time.monotonic() - started:.1f} s")
    assert proc.returncode == 0, proc.stderr + journal(box)[-3000:]
    props = show(box, "ActiveState", "SubState", "StatusText", "Type", "User")
    assert props["ActiveState"] == "active" and props["SubState"] == "running", props
    assert props["StatusText"] == "1/1 workers ready"
    assert props["User"] == "tiktok-analyzer"
    code, doc = health(box)
    assert code == 200 and doc["status"] == "ready", doc
    # Workers run as the service user, in the unit's cgroup, under its hardening.
    (pid,) = worker_pids(box)
    status = box.run("cat", f"/proc/{pid}/status").stdout
    uid = box.run("id", "-u", "tiktok-analyzer").stdout.strip()
    assert f"Uid:\t{uid}\t" in status
    assert "NoNewPrivs:\t1" in status
    assert f"/system.slice/{UNIT}.service" in box.run("cat", f"/proc/{pid}/cgroup").stdout


def test_an_analysis_through_the_installed_service(box: Container) -> None:
    ensure_ready(box)
    out = box.run(
        "curl", "-s", "-m", "120", "-F", "file=@/srv/clip.mp4", "-F", "frames=2",
        f"{URL}/analyze", check=True,
    ).stdout  # fmt: skip
    doc = json.loads(out)
    assert doc["status"] == "done", doc
    frames = doc["result"]["frames"]
    assert len(frames) == 2 and all(isinstance(f["caption"], str) for f in frames), frames


def test_restart_keeps_running_and_queued_jobs(box: Container) -> None:
    ensure_ready(box)
    (worker,) = worker_pids(box)
    # A stopped worker holds two jobs as "running" (one on the model, one prefetched) and the
    # third stays queued, whatever the speed of the machine.
    signal_inside(box, "STOP", worker)
    jobs = [submit(box) for _ in range(3)]
    wait_for(lambda: job_status(box, jobs[2]) == "queued", 30, "the third job to be queued")
    before = [job_status(box, j) for j in jobs]
    assert "done" not in before, before
    started = time.monotonic()
    proc = box.run("systemctl", "restart", UNIT, timeout=300)
    print(f"systemctl restart took {time.monotonic() - started:.1f} s (job states {before})")
    assert proc.returncode == 0, proc.stderr + journal(box)[-3000:]
    assert start_time(box, worker) is None, "the stopped worker outlived the restart"
    wait_for(lambda: all(job_status(box, j) == "done" for j in jobs), 120, "the jobs to finish")


def test_kill9_of_the_main_process_is_restarted_with_no_worker_left(box: Container) -> None:
    props = ensure_ready(box)
    main, restarts = int(props["MainPID"]), int(props["NRestarts"])
    workers = {pid: start_time(box, pid) for pid in worker_pids(box)}
    assert workers and all(workers.values())
    signal_inside(box, "KILL", main)
    wait_for(
        lambda: int(show(box, "NRestarts")["NRestarts"]) > restarts, 60, "systemd to restart it"
    )
    after = wait_active(box)
    assert int(after["MainPID"]) != main
    left = [pid for pid, st in workers.items() if start_time(box, pid) == st]
    assert not left, f"workers of the killed main process are still alive: {left}"
    assert len(worker_pids(box)) == 1


def test_watchdog_kills_a_stopped_main_process(box: Container) -> None:
    drop_in = f"/etc/systemd/system/{UNIT}.service.d/test-watchdog.conf"
    box.write(drop_in, "[Service]\nWatchdogSec=6s\n")
    box.run("systemctl", "daemon-reload", check=True)
    try:
        box.run("systemctl", "restart", UNIT, timeout=300, check=True)
        props = wait_active(box)
        main, restarts = int(props["MainPID"]), int(props["NRestarts"])
        # A running service keeps feeding the watchdog: nothing happens for well over
        # WatchdogSec.
        time.sleep(8)
        assert show(box, "MainPID")["MainPID"] == str(main)
        started = time.monotonic()
        signal_inside(box, "STOP", main)
        wait_for(
            lambda: int(show(box, "NRestarts")["NRestarts"]) > restarts,
            90,
            "the watchdog to restart the stopped main process",
        )
        print(f"watchdog restart {time.monotonic() - started:.1f} s after SIGSTOP (WatchdogSec=6s)")
        assert "Watchdog timeout" in journal(box)
        assert start_time(box, main) is None
        assert int(wait_active(box)["MainPID"]) != main
    finally:
        # the later tests run under the shipped unit's 60 s watchdog, not this one
        box.run("rm", "-f", drop_in, check=True)
        box.run("systemctl", "daemon-reload", check=True)


def test_stop_is_clean(box: Container) -> None:
    ensure_ready(box)
    workers = worker_pids(box)
    started = time.monotonic()
    proc = box.run("systemctl", "stop", UNIT, timeout=300)
    print(f"systemctl stop took {time.monotonic() - started:.1f} s")
    assert proc.returncode == 0, proc.stderr
    props = show(box, "ActiveState", "Result")
    # Result=timeout would mean systemd had to SIGKILL what did not stop by itself.
    assert props == {"ActiveState": "inactive", "Result": "success"}, props
    assert all(start_time(box, pid) is None for pid in workers)
    # KillMode=mixed SIGKILLs what is left once the main process is gone (multiprocessing's
    # resource tracker), but the workers must have been stopped by the front process itself.
    killed = re.findall(r"Killing process (\d+)", journal(box, "-1min"))
    assert not set(map(str, workers)) & set(killed), killed


def test_status_names_a_server_the_unit_did_not_start(box: Container) -> None:
    box.run("systemctl", "stop", UNIT, timeout=300, check=True)
    other = "http.server 8003 --bind 127.0.0.1"
    box.run("systemd-run", "--unit=someone-else", "python3", "-m", *other.split(), check=True)
    try:
        wait_for(
            lambda: box.run("curl", "-s", "-o", "/dev/null", f"{URL}/").returncode == 0,
            30,
            "the other server to answer",
        )
        proc = box.run(f"{PREFIX}/scripts/restart_services.sh", "status")
    finally:
        box.run("systemctl", "stop", "someone-else")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "mode: systemd" in proc.stdout
    assert f"something answers on {URL} that the unit {UNIT} did not start" in proc.stdout


def test_unreadable_weights_fail_the_start_fast_and_say_why(box: Container) -> None:
    """Depends on the service exiting 78 with the reason in STATUS= (issue 8)."""
    box.run("systemctl", "stop", UNIT, timeout=300)
    box.write(
        "/etc/tiktok-analyzer/env", env_file(TIKTOK_ANALYZER_MODEL="/srv/model-denied"), 0o640
    )
    started = time.monotonic()
    # Bounded by the test, not by the 15-minute TimeoutStartSec.
    proc = box.run("systemctl", "start", UNIT, timeout=150)
    print(f"failed start returned after {time.monotonic() - started:.1f} s")
    props = show(box, "ActiveState", "Result", "ExecMainStatus", "NRestarts", "StatusText")
    status = box.run("systemctl", "status", UNIT, "--no-pager", "-l", "-n", "30").stdout
    assert proc.returncode != 0, status
    assert props["Result"] == "exit-code", props
    assert props["ExecMainStatus"] == str(EX_CONFIG), props
    assert "permission denied" in status.lower(), status
    assert "/srv/model-denied/model.safetensors" in status, status
    # No restart loop: still failed, and not restarted, well past RestartSec (10 s).
    # (A manual start resets NRestarts: the count to keep is the one after it.)
    restarts = props["NRestarts"]
    time.sleep(12)
    props = show(box, "ActiveState", "NRestarts")
    assert props == {"ActiveState": "failed", "NRestarts": restarts}, props


def test_health_check_reports_the_configuration_error_and_does_not_restart(
    box: Container,
) -> None:
    """Runs after the failed start above: the unit is failed with status 78."""
    props = show(box, "ActiveState", "ExecMainStatus", "NRestarts")
    assert props["ActiveState"] == "failed" and props["ExecMainStatus"] == str(EX_CONFIG), props
    args = ["--failures", "1", "--cooldown", "0"]
    for _ in range(2):
        proc = box.run(f"{PREFIX}/scripts/health_check.sh", *args, timeout=120)
        assert proc.returncode == HEALTH_CONFIG_ERROR, proc.stdout + proc.stderr
        assert "configuration error" in proc.stderr
    after = show(box, "ActiveState", "NRestarts")
    assert after == {"ActiveState": "failed", "NRestarts": props["NRestarts"]}, after
    status = box.run(f"{PREFIX}/scripts/restart_services.sh", "status")
    assert status.returncode == 3, status.stdout + status.stderr
    assert f"last exit: status {EX_CONFIG}, a configuration error" in status.stdout
    assert "status: " in status.stdout, "the unit's status line (the reason) is shown"
