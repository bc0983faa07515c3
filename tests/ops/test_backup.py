"""scripts/backup.py: a consistent copy of a database being written, retention, restore."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from api.jobs import Job, JobStore
from api.settings import Settings
from tests.ops.conftest import SCRIPTS, VENV_PYTHON, free_port, ops_env, run

BACKUP = SCRIPTS / "backup.py"
OPTIONS = Settings().analysis_options(8, "scene")


def rows(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT * FROM jobs ORDER BY created_at").fetchall()
    finally:
        conn.close()


class Writer(threading.Thread):
    """Inserts and finishes jobs through the real JobStore, as the front process does."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(daemon=True)
        self.store = JobStore(data_dir / "jobs.sqlite3", OPTIONS).open()
        self.results = data_dir / "results"
        self.results.mkdir(parents=True, exist_ok=True)
        self.stop = threading.Event()
        self.count = 0

    def run(self) -> None:
        while not self.stop.is_set():
            n = self.count
            job_id = f"{n:06d}-{uuid.uuid4().hex[:8]}"
            now = time.time()
            self.store.insert(
                Job(job_id, OPTIONS, Path(f"/uploads/{job_id}"), None, 0, 1.0, created_at=now)
            )
            self.store.mark_running(job_id, 0, now)
            self.store.finish_done(
                job_id,
                {"n": n, "summary": "x" * 200},
                model_started_at=now,
                model_finished_at=now,
            )
            (self.results / f"{job_id}.json").write_text(json.dumps({"n": n}))
            self.count += 1
        self.store.close()


def backup_cmd(data: Path, backups: Path, *args: str) -> list[str | Path]:
    return [VENV_PYTHON, BACKUP, "--data-dir", data, "--backup-dir", backups, *args]


def test_backup_while_written_then_restore(tmp_path: Path) -> None:
    data, backups = tmp_path / "data", tmp_path / "backups"
    writer = Writer(data)
    writer.start()
    try:
        while writer.count < 50:
            time.sleep(0.01)
        proc = run(backup_cmd(data, backups, "backup"), ops_env(), check=True)
        during = writer.count
    finally:
        writer.stop.set()
        writer.join(10)
    assert writer.count > during, "the writer must have kept writing during the backup"

    (made,) = [p for p in backups.iterdir() if not p.name.startswith(".")]
    assert made.name in proc.stdout
    manifest = json.loads((made / "manifest.json").read_text())
    copied = rows(made / "jobs.sqlite3")
    # A consistent snapshot: some prefix of the jobs, each one finished with its result.
    assert 50 <= len(copied) <= writer.count
    ids = [int(str(r[0]).split("-")[0]) for r in copied]
    assert ids == list(range(len(copied)))
    conn = sqlite3.connect(made / "jobs.sqlite3")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    # Only the newest job may be caught between its transactions; all others are done.
    statuses = [r[0] for r in conn.execute("SELECT status FROM jobs ORDER BY created_at")]
    conn.close()
    assert set(statuses[:-1]) == {"done"}
    assert sum(manifest["database"]["jobs_by_status"].values()) == len(copied)
    assert manifest["results"]["files"] >= 50

    # Restore into the live data directory (service stopped): old state moved aside.
    port = str(free_port())  # nothing listens there: the service counts as stopped
    restored = run(
        backup_cmd(data, backups, "restore", "latest"),
        ops_env(TIKTOK_ANALYZER_PORT=port),
        check=True,
    )
    assert f"restored {made.name}" in restored.stdout
    assert rows(data / "jobs.sqlite3") == copied
    results = sorted(p.name for p in (data / "results").iterdir())
    assert results == sorted(p.name for p in (made / "results").iterdir())
    (aside,) = data.glob("pre-restore-*")
    assert len(rows(aside / "jobs.sqlite3")) == writer.count
    # The restored database opens with the service's own store.
    store = JobStore(data / "jobs.sqlite3", OPTIONS).open()
    job = store.get(str(copied[0][0]))
    store.close()
    assert (
        job is not None
        and job.status == "done"
        and job.result
        == {
            "n": 0,
            "summary": "x" * 200,
        }
    )


def test_restore_into_an_empty_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    writer = Writer(data)
    writer.start()
    while writer.count < 5:
        time.sleep(0.01)
    writer.stop.set()
    writer.join(10)
    run(backup_cmd(data, tmp_path / "b", "backup"), ops_env(), check=True)
    fresh = tmp_path / "fresh"
    env = ops_env(TIKTOK_ANALYZER_PORT=str(free_port()))
    run(backup_cmd(fresh, tmp_path / "b", "restore"), env, check=True)
    assert rows(fresh / "jobs.sqlite3") == rows(data / "jobs.sqlite3")
    assert not list(fresh.glob("pre-restore-*"))


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    JobStore(data / "jobs.sqlite3", OPTIONS).open().close()
    made = []
    for _ in range(4):
        out = run(backup_cmd(data, tmp_path / "b", "backup", "--keep", "2"), ops_env(), check=True)
        made.append(out.stdout.split()[1].rstrip(":"))
    left = {str(p) for p in (tmp_path / "b").iterdir()}
    assert left == set(made[-2:])
    listing = run(backup_cmd(data, tmp_path / "b", "list"), ops_env(), check=True)
    assert [line.split()[0] for line in listing.stdout.splitlines()] == [
        Path(p).name for p in made[-2:]
    ]


class _Alive(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_restore_refuses_while_the_service_answers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    JobStore(data / "jobs.sqlite3", OPTIONS).open().close()
    run(backup_cmd(data, tmp_path / "b", "backup"), ops_env(), check=True)
    server = HTTPServer(("127.0.0.1", 0), _Alive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = ops_env(
            TIKTOK_ANALYZER_PORT=str(server.server_address[1]),
            TIKTOK_ANALYZER_DATA_DIR=str(data),
        )
        proc = run(backup_cmd(data, tmp_path / "b", "restore"), env)
        # Another directory is not the service's: a scratch restore needs no stop.
        scratch = run(backup_cmd(tmp_path / "scratch", tmp_path / "b", "restore"), env)
    finally:
        server.shutdown()
    assert proc.returncode != 0
    assert "stop it first" in proc.stderr
    assert not list(data.glob("pre-restore-*"))
    assert scratch.returncode == 0, scratch.stderr
    assert (tmp_path / "scratch" / "jobs.sqlite3").exists()


def test_tampered_backup_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    JobStore(data / "jobs.sqlite3", OPTIONS).open().close()
    run(backup_cmd(data, tmp_path / "b", "backup"), ops_env(), check=True)
    (made,) = (tmp_path / "b").iterdir()
    with open(made / "jobs.sqlite3", "ab") as f:
        f.write(b"garbage")
    env = ops_env(TIKTOK_ANALYZER_PORT=str(free_port()))
    proc = run(backup_cmd(data, tmp_path / "b", "restore", made.name), env)
    assert proc.returncode != 0 and "checksum" in proc.stderr
