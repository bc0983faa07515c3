"""A booted Debian container (debootstrap + systemd-nspawn) to run the unit under a real systemd.

The root file system is built once and cached outside the checkout, keyed by a hash of what
went into it; each run boots a throw-away overlay on top of it, so a run never changes the
cache and a rerun boots in seconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"
VARIANT = "minbase"
#: what the unit and the scripts need inside: systemd itself, curl for the scripts and checks
PACKAGES = ("systemd", "dbus", "python3", "python3-venv", "curl")
CACHE = Path(os.environ.get("TIKTOK_ANALYZER_ROOTFS_CACHE", "/var/cache/tiktok-analyzer-test"))
#: a clean environment for commands run inside: nothing of the host's leaks in
INSIDE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "SYSTEMD_PAGER": "",
    "SYSTEMD_COLORS": "0",
    "TERM": "dumb",
}


class CannotBoot(Exception):
    """This machine cannot build or boot the container; the message says why."""


def rootfs_key() -> str:
    spec = json.dumps({"suite": SUITE, "variant": VARIANT, "packages": sorted(PACKAGES)})
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def cached_rootfs(log: Path) -> Path:
    """The cached root file system, built by debootstrap on first use (about a minute)."""
    rootfs = CACHE / f"rootfs-{SUITE}-{rootfs_key()}"
    if (rootfs / ".complete").exists():
        return rootfs
    CACHE.mkdir(parents=True, exist_ok=True)
    # Two test runs at once must not both build it: the second waits for the first.
    with open(CACHE / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (rootfs / ".complete").exists():
            return rootfs
        partial = CACHE / f".partial-{rootfs.name}"
        shutil.rmtree(partial, ignore_errors=True)
        cmd = [
            "debootstrap",
            f"--variant={VARIANT}",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(partial),
        ]
        with open(log, "w") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=900)
        if proc.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            tail = log.read_text(errors="replace").splitlines()[-5:]
            raise CannotBoot(f"debootstrap failed (exit {proc.returncode}): {' | '.join(tail)}")
        (partial / ".complete").write_text(" ".join(cmd) + "\n")
        partial.rename(rootfs)
    return rootfs


@dataclass
class Container:
    """A booted container; `run` executes a command inside all of its namespaces."""

    root: Path
    nspawn: subprocess.Popen[bytes]
    init_pid: int
    console: Path
    #: what the test's set-up printed (install.sh's output), for the checks to read
    install_log: str = ""

    def run(
        self, *cmd: str, timeout: float = 120, check: bool = False, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["nsenter", "-t", str(self.init_pid), "-a", *cmd],
            env=INSIDE_ENV,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"inside: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def sh(self, script: str, timeout: float = 120, check: bool = True) -> str:
        return self.run("sh", "-c", script, timeout=timeout, check=check).stdout

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        """Writes a file inside, from the host, through the container's root."""
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.run("systemctl", "show", unit, *(f"-p{p}" for p in props), check=True)
        return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)

    def wait_until_running(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            if self.nspawn.poll() is not None:
                break
            state = self.run("systemctl", "is-system-running", timeout=10).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.5)
        tail = self.console.read_text(errors="replace").splitlines()[-10:]
        raise CannotBoot(f"the container did not boot (state {state!r}): {' | '.join(tail)}")


def _init_pid(nspawn: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """PID (on the host) of the container's systemd: nspawn's only child."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and nspawn.poll() is None:
        children = Path(f"/proc/{nspawn.pid}/task/{nspawn.pid}/children")
        with contextlib.suppress(OSError):
            pids = children.read_text().split()
            if pids:
                return int(pids[0])
        time.sleep(0.1)
    raise CannotBoot("systemd-nspawn started no container")


@contextlib.contextmanager
def booted(work: Path, rootfs: Path, binds: dict[Path, str]) -> Iterator[Container]:
    """Boots an overlay of `rootfs` with `binds` (host path -> read-only path inside)."""
    upper, scratch, root = work / "upper", work / "overlay-work", work / "root"
    for d in (upper, scratch, root):
        d.mkdir(parents=True)
    options = f"lowerdir={rootfs},upperdir={upper},workdir={scratch}"
    mount = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(root)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:  # e.g. a temporary directory that is itself an overlay
        raise CannotBoot(f"cannot mount an overlay under {work}: {mount.stderr.strip()}")
    console = work / "console.log"
    # --private-network: the service inside binds 127.0.0.1:8003 without meeting the host's.
    cmd = ["systemd-nspawn", "-D", str(root), "-b", "--register=no", "--keep-unit"]
    cmd += ["--private-network", "--quiet", *(f"--bind-ro={h}:{c}" for h, c in binds.items())]
    try:
        with open(console, "w") as out:
            nspawn = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            container = Container(root, nspawn, _init_pid(nspawn), console)
            container.wait_until_running()
            yield container
        finally:
            _shut_down(nspawn)
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True)


def _shut_down(nspawn: subprocess.Popen[bytes]) -> None:
    """SIGTERM asks nspawn for a clean power-off; SIGKILL only if that hangs."""
    if nspawn.poll() is None:
        nspawn.send_signal(signal.SIGTERM)
        try:
            nspawn.wait(30)
        except subprocess.TimeoutExpired:
            nspawn.kill()
            nspawn.wait(10)
