"""Run a command in a fresh network namespace that has only loopback (nothing can leave)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess


def available() -> bool:
    """Whether this process may make network namespaces (root with unshare and ip)."""
    return os.geteuid() == 0 and bool(shutil.which("unshare")) and bool(shutil.which("ip"))


def run_loopback_only(
    argv: list[str], timeout_s: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """``argv`` run inside ``unshare -n`` with lo up; its output captured."""
    inner = f"ip link set lo up && exec {shlex.join(argv)}"
    return subprocess.run(
        ["unshare", "-n", "sh", "-c", inner],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
