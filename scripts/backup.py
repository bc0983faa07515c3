#!/usr/bin/env python3
"""Backups of the job database (SQLite backup API), data/results and data/keyframes, with
retention and restore."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a plain script from cron
    sys.path.insert(0, str(REPO))

from monitoring.system_monitor import in_checkout, service_url, settings_env  # noqa: E402

DB_NAME = "jobs.sqlite3"
RESULTS = "results"
#: data/keyframes/<job_id>/<n>.jpg: the small JPEGs of the frames a job described
KEYFRAMES = "keyframes"
#: file trees copied beside the database, in this order
TREES = (RESULTS, KEYFRAMES)
NAME_RE = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")
PARTIAL = ".partial-"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sqlite_copy(src: Path, dst: Path, *, read_only: bool) -> None:
    """A consistent copy: the backup API reads one snapshot even while others write."""
    uri = f"file:{src}?mode=ro" if read_only else f"file:{src}"
    source = sqlite3.connect(uri, uri=True, timeout=30)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
        # One self-contained file, whatever mode the source was in (the service uses WAL).
        target.execute("PRAGMA journal_mode=DELETE")
        check = target.execute("PRAGMA integrity_check").fetchone()
        if check != ("ok",):
            raise RuntimeError(f"integrity check of {dst} failed: {check}")
    finally:
        target.close()
        source.close()


def describe_db(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        counts = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        by_status: dict[str, int] = {}
        if "jobs" in tables:
            by_status = dict(conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status"))
    finally:
        conn.close()
    return {"tables": counts, "jobs_by_status": by_status}


def tree_size(path: Path) -> dict[str, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def copy_tree(src: Path, dst: Path) -> dict[str, int]:
    """Copies a tree the service keeps writing; a file removed meanwhile is skipped, not fatal.

    Job retention deletes old keyframes while a backup runs: those jobs are gone anyway.
    """
    vanished = 0
    for folder, dirs, files in os.walk(src):
        dirs.sort()
        target = dst / Path(folder).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for name in sorted(files):
            try:
                shutil.copy2(Path(folder) / name, target / name)
            except FileNotFoundError:
                vanished += 1
    return {**tree_size(dst), "vanished": vanished}


def _order(path: Path) -> tuple[str, int]:
    base, _, n = path.name.partition("-")
    return base, int(n or 0)


def backups(backup_dir: Path) -> list[Path]:
    """Completed backups, oldest first: by time, then by the same-second counter."""
    if not backup_dir.is_dir():
        return []
    found = [p for p in backup_dir.iterdir() if p.is_dir() and NAME_RE.match(p.name)]
    return sorted(found, key=_order)


def new_name(backup_dir: Path) -> str:
    """UTC time; a later backup in the same second gets a higher counter, never a freed one."""
    base = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    same = [_order(p)[1] for p in backups(backup_dir) if _order(p)[0] == base]
    return f"{base}-{max(same) + 1}" if same else base


def cmd_backup(args: argparse.Namespace) -> int:
    db = args.data_dir / DB_NAME
    args.backup_dir.mkdir(parents=True, exist_ok=True)
    name = new_name(args.backup_dir)
    # Built under a hidden name and renamed when complete: a crash never leaves a half backup
    # that retention would count or restore would pick.
    work = args.backup_dir / f"{PARTIAL}{name}"
    work.mkdir()
    manifest: dict[str, Any] = {
        "name": name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data_dir": str(args.data_dir),
        "database": None,
        **dict.fromkeys(TREES),
    }
    try:
        if db.exists():
            sqlite_copy(db, work / DB_NAME, read_only=True)
            manifest["database"] = {
                "file": DB_NAME,
                "sha256": sha256(work / DB_NAME),
                "bytes": (work / DB_NAME).stat().st_size,
                **describe_db(work / DB_NAME),
            }
        # After the database: every job in its snapshot already has its files on disk.
        for tree in TREES:
            if (args.data_dir / tree).is_dir():
                manifest[tree] = copy_tree(args.data_dir / tree, work / tree)
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        work.rename(args.backup_dir / name)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if all(manifest[part] is None for part in ("database", *TREES)):
        print(f"note: no {db} and no {' or '.join(TREES)} in {args.data_dir}: {name} is empty")
    db_info = manifest["database"] or {}
    print(
        f"backup {args.backup_dir / name}: jobs {db_info.get('jobs_by_status', {})}, "
        f"results {manifest['results']}, keyframes {manifest[KEYFRAMES]}"
    )
    prune(args.backup_dir, args.keep)
    return 0


def prune(backup_dir: Path, keep: int) -> None:
    found = backups(backup_dir)
    for old in found[: max(0, len(found) - keep)]:
        shutil.rmtree(old)
        print(f"removed old backup {old} (keeping {keep})")
    # Leftovers of runs killed half-way, once clearly not running any more.
    for stale in backup_dir.glob(f"{PARTIAL}*"):
        if time.time() - stale.stat().st_mtime > 86400:
            shutil.rmtree(stale, ignore_errors=True)
            print(f"removed unfinished backup {stale}")


def cmd_list(args: argparse.Namespace) -> int:
    found = backups(args.backup_dir)
    if not found:
        print(f"no backups in {args.backup_dir}")
    for path in found:
        try:
            manifest = json.loads((path / "manifest.json").read_text())
        except (OSError, ValueError):
            print(f"{path.name}  (no readable manifest)")
            continue
        db = manifest.get("database") or {}
        print(
            f"{path.name}  jobs {db.get('jobs_by_status', {})}  results {manifest.get(RESULTS)}"
            f"  keyframes {manifest.get(KEYFRAMES)}"
        )
    return 0


def service_running(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/live", timeout=3):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def pick(backup_dir: Path, name: str) -> Path:
    found = backups(backup_dir)
    if name == "latest":
        if not found:
            raise SystemExit(f"restore: no backups in {backup_dir}")
        return found[-1]
    path = backup_dir / name
    if path not in found:
        raise SystemExit(f"restore: no backup {name} in {backup_dir} (see: backup.py list)")
    return path


def cmd_restore(args: argparse.Namespace) -> int:
    source = pick(args.backup_dir, args.name)
    manifest = json.loads((source / "manifest.json").read_text())
    db_info = manifest.get("database")
    if db_info and sha256(source / DB_NAME) != db_info["sha256"]:
        raise SystemExit(f"restore: {source / DB_NAME} does not match its manifest checksum")
    data = args.data_dir
    # Only the service's own database is in use; a scratch directory can be restored any time.
    in_use = data.resolve() == args.service_data_dir.resolve() and service_running(args.url)
    if in_use and not args.force:
        raise SystemExit(
            f"restore: the service answers at {args.url} and uses {data}; stop it first "
            "(scripts/restart_services.sh stop), or pass --force"
        )
    data.mkdir(parents=True, exist_ok=True)
    # Whatever is there now is moved aside, never deleted: a wrong restore can be undone.
    aside = data / f"pre-restore-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"
    for item in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", *TREES):
        if (data / item).exists():
            aside.mkdir(exist_ok=True)
            (data / item).rename(aside / item)
    if aside.exists():
        print(f"moved the current database and results to {aside}")
    if db_info:
        staging = data / f".{DB_NAME}.restoring"
        staging.unlink(missing_ok=True)
        sqlite_copy(source / DB_NAME, staging, read_only=True)
        os.replace(staging, data / DB_NAME)
    for tree in TREES:
        if (source / tree).is_dir():
            shutil.copytree(source / tree, data / tree)
    restored = describe_db(data / DB_NAME) if db_info else {}
    print(
        f"restored {source.name} into {data}: jobs {restored.get('jobs_by_status', {})}, "
        f"results {manifest.get(RESULTS)}, keyframes {manifest.get(KEYFRAMES)}"
    )
    return 0


def parse_args(argv: list[str] | None, env: dict[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="Restore: stop the service, run 'backup.py restore latest', start the service.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=in_checkout(env.get("TIKTOK_ANALYZER_DATA_DIR", "data")),
        help="holds jobs.sqlite3, results/, keyframes/ [TIKTOK_ANALYZER_DATA_DIR, data/]",
    )
    parser.add_argument(
        "--backup-dir",
        type=Path,
        default=in_checkout(env.get("TIKTOK_ANALYZER_BACKUP_DIR", "backups")),
        help="[TIKTOK_ANALYZER_BACKUP_DIR, backups/ of the checkout]",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("backup", help="make a backup, then drop the oldest beyond --keep")
    make.add_argument(
        "--keep",
        type=int,
        default=int(env.get("TIKTOK_ANALYZER_BACKUP_KEEP", "8")),
        help="backups to keep [TIKTOK_ANALYZER_BACKUP_KEEP, 8]",
    )
    sub.add_parser("list", help="list backups, oldest first")
    restore = sub.add_parser("restore", help="restore a backup into the data directory")
    restore.add_argument("name", nargs="?", default="latest", help="backup name or 'latest'")
    restore.add_argument(
        "--force", action="store_true", help="even if the service answers and uses --data-dir"
    )
    args = parser.parse_args(argv)
    args.url = service_url(env)
    args.service_data_dir = in_checkout(env.get("TIKTOK_ANALYZER_DATA_DIR", "data"))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, settings_env())
    commands = {"backup": cmd_backup, "list": cmd_list, "restore": cmd_restore}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
