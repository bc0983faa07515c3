"""scripts/install.sh under --root: what it installs, idempotence, --dry-run."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from tests.ops.conftest import REPO, SCRIPTS, ops_env, run

INSTALL = SCRIPTS / "install.sh"


def tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """path -> (mode, mtime_ns, sha256) of every file and directory under root."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        out[str(path.relative_to(root))] = (st.st_mode, st.st_mtime_ns, digest)
    return out


def install(root: Path, *extra: str) -> str:
    proc = run([INSTALL, "--root", root, "--venv", REPO / ".venv", *extra], ops_env(), check=True)
    return proc.stdout


def test_installs_every_file_rendered(tmp_path: Path) -> None:
    install(tmp_path)
    etc = tmp_path / "etc"
    expected = {
        etc / "systemd/system/tiktok-analyzer.service": 0o644,
        etc / "cron.d/tiktok-analyzer": 0o644,
        etc / "tiktok-analyzer/logrotate.conf": 0o644,
        etc / "tiktok-analyzer/env": 0o640,
    }
    for path, mode in expected.items():
        assert path.is_file(), path
        assert path.stat().st_mode & 0o777 == mode, path
        assert not re.search(r"@[A-Z_]+@", path.read_text()), f"placeholder left in {path}"
    if os.geteuid() == 0:  # cron ignores /etc/cron.d files not owned by root
        assert (etc / "cron.d/tiktok-analyzer").stat().st_uid == 0
    # Its own state file, never the system's daily run: nothing in /etc/logrotate.d.
    assert not (etc / "logrotate.d").exists()
    prefix = tmp_path / "opt/tiktok-analyzer"
    for rel in ("scripts/health_check.sh", "monitoring/system_monitor.py", "api/server.py"):
        assert (prefix / rel).is_file(), rel
    assert os.access(prefix / "scripts/health_check.sh", os.X_OK)
    for rel in ("data", "logs", "backups"):
        assert (prefix / rel).is_dir()
    unit = (etc / "systemd/system/tiktok-analyzer.service").read_text()
    assert "ReadWritePaths=/opt/tiktok-analyzer/data /opt/tiktok-analyzer/logs" in unit
    assert "User=tiktok-analyzer" in unit


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    install(tmp_path, "--user", "svc")
    before = tree(tmp_path)
    out = install(tmp_path, "--user", "svc")
    assert "nothing to do" in out
    assert "install:" not in out and "mkdir:" not in out
    assert tree(tmp_path) == before


def test_existing_env_file_is_never_overwritten(tmp_path: Path) -> None:
    install(tmp_path)
    env_file = tmp_path / "etc/tiktok-analyzer/env"
    env_file.write_text("TIKTOK_ANALYZER_PORT=9001\n")
    out = install(tmp_path)
    assert env_file.read_text() == "TIKTOK_ANALYZER_PORT=9001\n"
    assert "kept as it is" in out


def test_changed_source_is_updated(tmp_path: Path) -> None:
    install(tmp_path)
    cron = tmp_path / "etc/cron.d/tiktok-analyzer"
    cron.write_text("# edited by hand\n")
    out = install(tmp_path)
    assert f"install: {cron}" in out
    assert "flock -n" in cron.read_text()


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    proc = run([INSTALL, "--root", root, "--dry-run"], ops_env(), check=True)
    assert "would: install:" in proc.stdout
    assert not root.exists()
    # Nor on top of an existing installation.
    install(root)
    before = tree(root)
    (root / "etc/cron.d/tiktok-analyzer").write_text("# stale\n")
    before = tree(root)
    proc = run([INSTALL, "--root", root, "--venv", REPO / ".venv", "--dry-run"], ops_env())
    assert "would: install:" in proc.stdout
    assert tree(root) == before


def test_refuses_a_prefix_protecthome_hides(tmp_path: Path) -> None:
    proc = run([INSTALL, "--root", tmp_path, "--prefix", "/home/svc/app"], ops_env())
    assert proc.returncode == 64
    assert "ProtectHome" in proc.stderr
    assert not any(tmp_path.iterdir())


def test_help() -> None:
    proc = run([INSTALL, "-h"], ops_env(), check=True)
    assert "--root DIR" in proc.stdout and "--dry-run" in proc.stdout


def test_a_missing_template_stops_the_install(tmp_path: Path) -> None:
    """A template that cannot be read fails the install; it never installs an empty file."""
    src = tmp_path / "src"
    shutil.copytree(SCRIPTS, src / "scripts")
    shutil.copytree(REPO / "deploy", src / "deploy")
    (src / "deploy/cron/tiktok-analyzer").unlink()
    root = tmp_path / "root"
    proc = run([src / "scripts/install.sh", "--root", root, "--venv", REPO / ".venv"], ops_env())
    assert proc.returncode != 0, proc.stdout
    assert "cannot render" in proc.stderr and "deploy/cron/tiktok-analyzer" in proc.stderr
    assert not (root / "etc/cron.d/tiktok-analyzer").exists()
    assert not (root / "etc/tiktok-analyzer/env").exists(), "it must stop there"
