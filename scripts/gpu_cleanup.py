#!/usr/bin/env python3
"""Hourly GPU clean-up: report GPU memory, free the idle service's cache, end orphaned workers."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a plain script from cron
    sys.path.insert(0, str(REPO))

from monitoring.gpu import NoGpuError, read_gpus  # noqa: E402
from monitoring.system_monitor import (  # noqa: E402
    in_checkout,
    read_service,
    service_url,
    settings_env,
)

UNIT = os.environ.get("TIKTOK_ANALYZER_UNIT", "tiktok-analyzer")
# A dead parent hands its children to PID 1 or to a subreaper such as "systemd --user".
REAPERS = frozenset({"systemd", "init"})


class Cleanup:
    """One run: every decision is printed and appended to logs/gpu_cleanup.log."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str]) -> None:
        self.args, self.env = args, env
        self.log_file = in_checkout(env.get("TIKTOK_ANALYZER_LOG_DIR", "logs")) / "gpu_cleanup.log"
        self.url = args.url or service_url(env)
        self.api_key = env.get("TIKTOK_ANALYZER_API_KEY") or None

    def log(self, message: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = f"{stamp} gpu_cleanup[{os.getpid()}] {message}"
        print(line, flush=True)
        try:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_file, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError as err:
            print(f"gpu_cleanup: cannot write {self.log_file}: {err}", file=sys.stderr)

    # --- report and release ------------------------------------------------------------

    def report_gpus(self) -> bool:
        """Log memory per GPU and per process; False when there is no GPU."""
        try:
            gpus = read_gpus()
        except NoGpuError as err:
            self.log(f"{err}: nothing to report or release")
            return False
        for gpu in gpus:
            used = (gpu.memory_used_bytes or 0) / 2**20
            total = (gpu.memory_total_bytes or 0) / 2**20
            self.log(f"GPU {gpu.index} {gpu.name}: {used:.0f} of {total:.0f} MiB used")
            for proc in gpu.processes:
                mib = (
                    "?"
                    if proc.used_memory_bytes is None
                    else f"{proc.used_memory_bytes / 2**20:.0f}"
                )
                self.log(f"  pid {proc.pid} {mib} MiB: {describe(proc.pid)}")
        return True

    def release_if_idle(self) -> None:
        health = read_service(self.url, self.args.timeout, self.api_key)
        if not health.get("ready"):
            self.log(
                f"service not ready ({health.get('status') or health.get('error')}): no release"
            )
            return
        if health.get("busy_workers") or health.get("queue_depth"):
            self.log(
                f"service busy ({health.get('busy_workers')} busy, queue "
                f"{health.get('queue_depth')}): no release"
            )
            return
        if self.args.dry_run:
            self.log("dry run: would POST /admin/release-memory")
            return
        request = urllib.request.Request(f"{self.url}/admin/release-memory", method="POST")
        if self.api_key:
            request.add_header("X-API-Key", self.api_key)
        try:
            with urllib.request.urlopen(request, timeout=self.args.timeout) as resp:
                body = resp.read().decode("utf-8", "replace")
            self.log(f"asked idle workers to release cached GPU memory: HTTP {resp.status} {body}")
        except (urllib.error.URLError, OSError) as err:
            self.log(f"release-memory request failed: {err}")

    # --- orphans -------------------------------------------------------------------------

    def service_tree(self) -> set[int]:
        """The running service's main process and all its descendants."""
        main = service_main_pid(in_checkout(self.env.get("TIKTOK_ANALYZER_DATA_DIR", "data")))
        if main is None:
            return set()
        try:
            root = psutil.Process(main)
            return {main} | {p.pid for p in root.children(recursive=True)}
        except psutil.Error:
            return set()

    def is_orphan(self, proc: psutil.Process, uid: int, tree: set[int]) -> bool:
        try:
            if proc.pid in tree or proc.uids().real != uid or not is_our_worker(proc.cmdline()):
                return False
            if in_service_cgroup(proc.pid) or time.time() - proc.create_time() < self.args.min_age:
                return False
            parent = proc.parent()
            return parent is None or parent.pid == 1 or parent.name() in REAPERS
        except psutil.Error:
            return False

    def sweep(self) -> int:
        """SIGTERM, then SIGKILL after the grace period, to orphaned workers; returns how many."""
        uid = pwd.getpwnam(self.args.user).pw_uid
        tree = self.service_tree()
        candidates = psutil.process_iter()
        if self.args.pid:
            candidates = iter(
                [psutil.Process(pid) for pid in self.args.pid if psutil.pid_exists(pid)]
            )
        orphans = [p for p in candidates if self.is_orphan(p, uid, tree)]
        if not orphans:
            self.log(f"no orphaned workers of user {self.args.user}")
            return 0
        for proc in orphans:
            verb = "would send" if self.args.dry_run else "sending"
            self.log(
                f"orphaned worker pid {proc.pid} (parent gone): {verb} SIGTERM: "
                + describe(proc.pid)
            )
            if not self.args.dry_run:
                signal_quietly(proc, signal.SIGTERM)
                # A stopped process acts on SIGTERM only once continued (systemd does the same).
                signal_quietly(proc, signal.SIGCONT)
        if self.args.dry_run:
            return len(orphans)
        alive = wait_gone(orphans, self.args.grace)
        for proc in alive:
            self.log(f"pid {proc.pid} still running after {self.args.grace:g}s: sending SIGKILL")
            signal_quietly(proc, signal.SIGKILL)
        still = wait_gone(alive, 10)
        for proc in orphans:
            self.log(f"pid {proc.pid} {'STILL RUNNING' if proc in still else 'gone'}")
        return len(orphans)


def gone(proc: psutil.Process) -> bool:
    """Exited; a zombie left to a parent that does not reap counts as gone too."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of procs still running after timeout seconds."""
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if not gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in alive if not gone(p)]
    return alive


def describe(pid: int) -> str:
    try:
        proc = psutil.Process(pid)
        return f"user {proc.username()}, {' '.join(proc.cmdline())[:160]}"
    except psutil.Error:
        return "(process gone or not visible)"


def signal_quietly(proc: psutil.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.send_signal(sig)


def is_our_worker(cmdline: list[str]) -> bool:
    """A worker of ours: api.worker, or a multiprocessing spawn child of our virtualenv's python."""
    if any("api.worker" in part for part in cmdline):
        return True
    if "--multiprocessing-fork" not in cmdline or not cmdline:
        return False
    bin_dirs = {Path(sys.prefix) / "bin", REPO / ".venv" / "bin"}
    return Path(cmdline[0]).parent in bin_dirs


def in_service_cgroup(pid: int) -> bool:
    """Processes in the unit's cgroup are systemd's to stop (KillMode=mixed), not ours."""
    try:
        return f"/{UNIT}.service" in Path(f"/proc/{pid}/cgroup").read_text(encoding="utf-8")
    except OSError:
        return False


def service_main_pid(data_dir: Path) -> int | None:
    """MainPID from systemd when it runs the unit, else the pid file of restart_services.sh."""
    if Path("/run/systemd/system").is_dir():
        try:
            out = subprocess.run(
                ["systemctl", "show", "-p", "MainPID", "--value", UNIT],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
            if out.isdigit() and int(out) > 0:
                return int(out)
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        pid = int((data_dir / "tiktok-analyzer.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if psutil.pid_exists(pid) else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog=(
            "Without an NVIDIA GPU it says so, skips the report and the release, still sweeps "
            "orphaned workers (they hold RAM on CPU too) and exits 0. Exit 1 only on an "
            "unexpected error."
        ),
    )
    parser.add_argument("--dry-run", action="store_true", help="report, signal nothing")
    parser.add_argument(
        "--user",
        default=pwd.getpwuid(os.getuid()).pw_name,
        help="only this user's processes are considered [the current user]",
    )
    parser.add_argument("--grace", type=float, default=15.0, help="SIGTERM to SIGKILL, seconds")
    parser.add_argument(
        "--min-age", type=float, default=120.0, help="ignore processes younger than this, seconds"
    )
    parser.add_argument("--url", help="service base URL [from TIKTOK_ANALYZER_HOST/PORT]")
    parser.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout, seconds")
    parser.add_argument("--no-sweep", action="store_true", help="skip the orphan sweep")
    parser.add_argument(
        "--always-release",
        action="store_true",
        help="ask an idle service to release memory even without an NVIDIA GPU",
    )
    parser.add_argument(
        "--pid",
        type=int,
        action="append",
        help="consider only this process (repeatable); the same orphan rules still apply",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cleanup = Cleanup(args, settings_env())
    if cleanup.report_gpus() or args.always_release:
        cleanup.release_if_idle()
    killed = 0 if args.no_sweep else cleanup.sweep()
    summary = {"orphans": killed, "dry_run": args.dry_run}
    cleanup.log(f"done {json.dumps(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
