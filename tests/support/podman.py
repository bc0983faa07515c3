"""Podman as these machines run it: runc, cgroupfs, no image registry, a storage of our own.

The base image is made once with debootstrap and `podman import`; the project's image is
built on it with the host's CA bundle and pip configuration mounted in, so that pip inside
the build reaches the package registry and the local CPU torch wheel. Images stay in the
storage between runs (the build's layer cache); containers are removed by their callers.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("TIKTOK_ANALYZER_ROOTFS_CACHE", "/var/cache/tiktok-analyzer-test"))
HOME = CACHE / "podman"
BASE_IMAGE = "localhost/tiktok-analyzer-base:bookworm"
#: the host's CA bundle, mounted at a path of its own: over /etc/ssl/certs it would keep the
#: image's own ca-certificates package from installing
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
CA_INSIDE = "/run/host-ca/ca-certificates.crt"
#: overlay: copy-on-write layers; vfs stores each layer as a full copy (about 50 GB for one
#: build of this image), so it is only the fallback where overlay cannot mount
DRIVERS = ("overlay", "vfs")


class CannotRun(Exception):
    """Podman cannot build or run containers on this machine; the message says why."""


@dataclass(frozen=True)
class Podman:
    """One podman configuration: every call goes through `run` with the same options."""

    driver: str
    home: Path = HOME

    def command(self, *args: str) -> list[str]:
        # chrt: podman under the normal policy whatever this process runs under (a real-time
        # podman spins its copier and starves two cores: see clips._keeping_scheduler)
        return [
            "chrt", "--other", "0", "podman",
            "--runtime", "runc",
            "--cgroup-manager", "cgroupfs",
            "--storage-driver", self.driver,
            "--root", str(self.home / f"storage-{self.driver}"),
            "--runroot", f"/run/tiktok-analyzer-test-podman-{self.driver}",
            *args,
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        # default_ulimits = []: the packaged default asks for a nofile limit a nested
        # container may not raise, and every start fails.
        return {**os.environ, "CONTAINERS_CONF": str(self.home / "containers.conf")}

    def run(
        self, *args: str, timeout: float = 120, check: bool = False, stdin: int | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.command(*args),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=stdin,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"podman {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def image_exists(self, name: str) -> bool:
        return self.run("image", "exists", name).returncode == 0

    def remove_container(self, name: str) -> None:
        self.run("rm", "--force", "--time", "0", name, timeout=60)


def podman() -> Podman:
    """A working configuration (overlay where it mounts, else vfs), or CannotRun saying why."""
    if shutil.which("podman") is None or shutil.which("runc", path="/usr/sbin:/usr/bin") is None:
        raise CannotRun("podman or runc is not installed (make test installs them as root)")
    if os.geteuid() != 0:
        raise CannotRun("podman here runs as root (rootless needs subuid ranges and fuse)")
    HOME.mkdir(parents=True, exist_ok=True)
    (HOME / "containers.conf").write_text("[containers]\ndefault_ulimits = []\n")
    reasons = []
    for driver in DRIVERS:
        candidate = Podman(driver)
        proc = candidate.run("info", "--format", "{{.Store.GraphDriverName}}", timeout=120)
        if proc.returncode == 0:
            return candidate
        reasons.append(f"{driver}: {proc.stderr.strip().splitlines()[-1:]}")
    raise CannotRun(f"podman info fails: {'; '.join(reasons)}")


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    # Two test runs at once must not both build: the second waits for the first.
    with open(HOME / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def base_image(pm: Podman, log: Path) -> str:
    """The bookworm minbase image, made by debootstrap + podman import on first use."""
    with _lock("base"):
        if pm.image_exists(BASE_IMAGE):
            return BASE_IMAGE
        with tempfile.TemporaryDirectory(dir=HOME) as tmp:
            rootfs = Path(tmp) / "rootfs"
            with open(log, "w") as out:
                proc = subprocess.run(
                    ["debootstrap", "--variant=minbase", "bookworm", str(rootfs)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=900,
                )
            if proc.returncode != 0:
                tail = " | ".join(log.read_text(errors="replace").splitlines()[-3:])
                raise CannotRun(f"debootstrap failed (exit {proc.returncode}): {tail}")
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            assert tar.stdout is not None
            pm.run("import", "-", BASE_IMAGE, timeout=600, check=True, stdin=tar.stdout.fileno())
            tar.stdout.close()
            tar.wait()
    return BASE_IMAGE


def build(
    pm: Podman, context: Path, tag: str, build_args: dict[str, str], wheels: Path, log: Path
) -> None:
    """`podman build` with the host's pip set-up and `wheels` mounted in; output goes to log."""
    pip_conf = HOME / "pip.conf"
    pip_conf.write_text(f"[global]\ncert = {CA_INSIDE}\nfind-links = /opt/wheels\n")
    mounts = [f"{HOST_CA}:{CA_INSIDE}:ro", f"{pip_conf}:/etc/pip.conf:ro"]
    mounts.append(f"{wheels}:/opt/wheels:ro")
    args: list[str] = ["build", "--pull=never", "--network", "host", "--layers"]
    # docker format: the OCI format has no HEALTHCHECK and podman drops it
    args += ["--format", "docker", "--tag", tag]
    args += [f"--volume={m}" for m in mounts]
    args += [f"--build-arg={k}={v}" for k, v in build_args.items()]
    with _lock("build"), open(log, "w") as out:
        proc = subprocess.run(
            pm.command(*args, str(context)),
            env=pm.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=1800,
        )
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise AssertionError(f"podman build exited {proc.returncode}:\n{tail}")
