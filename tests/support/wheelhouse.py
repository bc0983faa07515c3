"""A folder of wheels holding the project's declared dependencies and nothing else.

The production install is tested as an operator runs it: install.sh builds the service's
own virtualenv with pip, from `pyproject.toml`'s `dependencies` alone. The container it
runs in has no network, so pip inside is pointed at this folder (`PIP_NO_INDEX`,
`PIP_FIND_LINKS`): what is not declared is not there, and an import that only a dev
extra satisfies fails the service's start, as it would on a server.
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
from pathlib import Path

import tomllib

#: what pip needs beside the dependencies to build the editable install (build isolation)
BUILD_TOOLS = ("pip", "setuptools>=68", "wheel")


def declared_requirements(pyproject: Path) -> list[str]:
    """The `[project] dependencies` of a pyproject.toml, markers included."""
    return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])


def wheelhouse(cache: Path, pyproject: Path, torch_spec: str, log: Path) -> Path:
    """Wheels for `pyproject`'s dependencies (torch as `torch_spec`), downloaded once.

    Keyed by the requirements: a new dependency makes a new folder. pip's own cache and
    configuration (the local wheel folders) serve the download.
    """
    wanted = [torch_spec, *declared_requirements(pyproject), *BUILD_TOOLS]
    key = hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:16]
    folder = cache / f"wheels-{key}"
    if (folder / ".complete").exists():
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".wheels.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / ".complete").exists():
            return folder
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:"]
        cmd += ["--dest", str(folder), *wanted]
        with open(log, "w") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=1200)
        if proc.returncode != 0:
            tail = log.read_text(errors="replace").splitlines()[-5:]
            raise RuntimeError(f"pip download failed (exit {proc.returncode}): {' | '.join(tail)}")
        (folder / ".complete").write_text("\n".join(wanted) + "\n")
    return folder
