"""scripts/backup.py: a consistent copy of a database being written, keyframes, retention,
restore."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from PIL import Image

from api.jobs import Job, JobStore
from api.settings import Settings
from tests.ops.conftest import SCRIPTS, VENV_PYTHON, free_port, ops_env, run

BACKUP = SCRIPTS / "backup.py"
KEYFRAMES_PER_JOB = 3


def small_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 56), (200, 40, 90)).save(out, "JPEG", quality=70)
    return out.getvalue()


JPEG = small_jpeg()
OPTIONS = Settings().analysis_options(8, "scene")


def rows(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT * FROM jobs ORDER BY created_at").fetchall()
    finally:
        conn.close()


class Writer(threading.Thread):
    """Inserts and finishes jobs through the real JobStore, as the front process does.

    Keyframes go to data/keyframes/<job_id>/<n>.jpg before the job is marked done.
    """

    def __init__(self, data_dir: Path) -> None:
        super().__init__(daemon=True)
        self.store = JobStore(data_dir / "jobs.sqlite3", OPTIONS).open()
        self.results = data_dir / "results"
        self.results.mkdir(parents=True, exist_ok=True)
        self.keyframes = data_dir / "keyframes"
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
            frames = self.keyframes / job_id
            frames.mkdir(parents=True)
            for i in range(KEYFRAMES_PER_JOB):
                (frames / f"{i}.jpg").write_bytes(JPEG)
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
    # Every job in the database copy has all its keyframes in the backup.
    for row in copied[:-1]:
        frames = made / "keyframes" / str(row[0])
        assert sorted(p.name for p in frames.iterdir()) == ["0.jpg", "1.jpg", "2.jpg"], frames
        assert (frames / "0.jpg").read_bytes() == JPEG
    assert manifest["keyframes"]["files"] >= KEYFRAMES_PER_JOB * len(copied[:-1])

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
    restored_frames = sorted(str(p.relative_to(data)) for p in (data / "keyframes").rglob("*"))
    assert restored_frames == sorted(
        str(p.relative_to(made)) for p in (made / "keyframes").rglob("*")
    )
    (aside,) = data.glob("pre-restore-*")
    assert len(rows(aside / "jobs.sqlite3")) == writer.count
    assert len(list((aside / "keyframes").iterdir())) == writer.count
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


def test_keyframes_removed_during_the_backup_are_skipped(tmp_path: Path) -> None:
    """Job retention deletes old keyframes while the weekly backup copies them."""
    data = tmp_path / "data"
    JobStore(data / "jobs.sqlite3", OPTIONS).open().close()
    jobs = [f"job{n:04d}" for n in range(400)]
    for job_id in jobs:
        (data / "keyframes" / job_id).mkdir(parents=True)
        for i in range(KEYFRAMES_PER_JOB):
            (data / "keyframes" / job_id / f"{i}.jpg").write_bytes(JPEG)
    stop = threading.Event()

    def retention() -> None:
        for job_id in jobs:
            if stop.is_set():
                return
            shutil.rmtree(data / "keyframes" / job_id)

    remover = threading.Thread(target=retention, daemon=True)
    remover.start()
    try:
        proc = run(backup_cmd(data, tmp_path / "b", "backup"), ops_env())
    finally:
        stop.set()
        remover.join(10)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (made,) = (tmp_path / "b").iterdir()
    manifest = json.loads((made / "manifest.json").read_text())
    assert manifest["keyframes"]["files"] + manifest["keyframes"]["vanished"] <= 3 * len(jobs)
    # What the manifest counts is what was copied, each file whole (no partial copy).
    copied = list((made / "keyframes").rglob("*.jpg"))
    assert manifest["keyframes"]["files"] == len(copied)
    assert all(p.read_bytes() == JPEG for p in copied)


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
