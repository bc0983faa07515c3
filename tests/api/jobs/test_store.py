"""The SQLite job store: records round-trip, state changes, and forward migration."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from pathlib import Path

import pytest

from analyzers.schema import VideoInfo
from api.jobs.record import Job
from api.jobs.store import SCHEMA_VERSION, JobStore
from api.settings import Settings

V1_DATABASE = Path(__file__).resolve().parents[2] / "data" / "jobs_v1.sqlite3"
DEFAULTS = Settings().analysis_options()


def _job(job_id: str = "j1") -> Job:
    options = Settings(decoder="pyav").analysis_options(4, "mood,scene")
    return Job(job_id, options, Path("/up/x"), "clip.mp4", 10, 3.5, created_at=100.0)


def test_a_job_round_trips_with_its_frozen_options(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3", DEFAULTS).open()
    store.insert(_job())
    got = store.get("j1")
    assert got is not None
    assert got.options == _job().options
    assert (got.upload, got.filename, got.duration_s, got.status) == (
        Path("/up/x"),
        "clip.mp4",
        3.5,
        "queued",
    )


def test_state_changes_only_from_live_states(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3", DEFAULTS).open()
    store.insert(_job())
    store.mark_running("j1", 0, 101.0)
    store.requeue("j1", crashed=True)
    assert store.finish_done("j1", {"summary": "s"}, model_started_at=1, model_finished_at=2)
    assert not store.finish_error("j1", "failed", "x", "y")  # already final
    got = store.get("j1")
    assert got is not None and got.status == "done" and got.result == {"summary": "s"}
    assert store.counts()["done"] == 1
    assert store.live_uploads() == set()


def test_a_database_of_release_0_1_opens_with_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    shutil.copy(V1_DATABASE, path)
    store = JobStore(path, DEFAULTS).open()
    jobs, total = store.page(limit=10, offset=0)
    assert total == 4
    by_id = {j.id[0]: j for j in jobs}
    assert by_id["a"].status == "queued" and by_id["a"].options.frames == 8
    assert by_id["a"].options.aspects == ("scene", "mood")
    assert by_id["a"].options.decoder == DEFAULTS.decoder  # not stored by 0.1: the default
    assert by_id["c"].status == "done" and by_id["c"].result == {"summary": "x"}
    assert by_id["d"].error_code == "not_a_video"
    assert all(j.callback is None and j.source_url is None for j in jobs)  # added in v3
    assert store.pending_callbacks() == []
    recovered = store.recover()  # the running one goes back to the queue
    assert sorted(j.id[0] for j in recovered) == ["a", "b"]
    store.close()
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION


def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    JobStore(path, DEFAULTS).open().close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer release"):
        JobStore(path, DEFAULTS).open()


def test_retention_removes_old_finished_jobs_and_their_keyframes(tmp_path: Path) -> None:
    from api.jobs.keyframes import KeyframeStore
    from api.jobs.retention import Retention

    settings = Settings(data_dir=tmp_path, job_retention_days=30)
    store = JobStore(settings.db_path, DEFAULTS).open()
    now = 100 * 86400.0
    for job_id in ("old", "recent", "queued"):
        store.insert(_job(job_id))
    store.finish_done("old", {}, model_started_at=1, model_finished_at=2, now=now - 31 * 86400)
    store.finish_done("recent", {}, model_started_at=1, model_finished_at=2, now=now - 86400)
    frames = settings.keyframes_dir / "old"
    frames.mkdir(parents=True)
    (frames / "0.jpg").write_bytes(b"jpeg")
    retention = Retention(settings, store, KeyframeStore(settings.keyframes_dir))
    assert retention.tick(now) == 1
    assert store.get("old") is None and not frames.exists()
    assert store.get("recent") is not None and store.get("queued") is not None
    assert retention.tick(now + 60) == 0  # not again before the interval


def test_a_page_without_results_reads_every_other_field(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3", DEFAULTS).open()
    store.insert(_job("j1"))
    store.insert(_job("j2"))
    store.mark_running("j1", 0, 101.0)
    store.finish_done("j1", {"summary": "s"}, model_started_at=1, model_finished_at=2)
    full, total = store.page(limit=10)
    light, light_total = store.page(limit=10, with_result=False)
    store.close()
    assert total == light_total == 2
    assert [j.result for j in full] == [None, {"summary": "s"}]
    assert [j.result for j in light] == [None, None]
    assert light == [dataclasses.replace(j, result=None) for j in full]


def test_a_page_without_results_reads_a_migrated_database(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    shutil.copy(V1_DATABASE, path)
    store = JobStore(path, DEFAULTS).open()
    full, _ = store.page(limit=10)
    light, _ = store.page(limit=10, with_result=False)
    store.close()
    assert light == [dataclasses.replace(j, result=None) for j in full]


def _probe() -> VideoInfo:
    return VideoInfo(
        duration_s=3.5,
        fps=30.0,
        frame_count=105,
        width=720,
        height=1280,
        orientation="vertical",
        codec="h264",
        has_audio=True,
        rotation=90,
        stream_index=0,
        decoder="",
    )


def test_the_intake_probe_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path, DEFAULTS).open()
    store.insert(dataclasses.replace(_job(), probe=_probe()))
    store.close()
    again = JobStore(path, DEFAULTS).open()
    (recovered,) = again.recover()
    assert recovered.probe == _probe()
    light, _ = again.page(limit=10, with_result=False)
    assert light[0].probe == _probe()


def test_rows_stored_before_the_probe_was_kept_have_none(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    shutil.copy(V1_DATABASE, path)
    store = JobStore(path, DEFAULTS).open()
    jobs, _ = store.page(limit=10)
    assert jobs and all(j.probe is None for j in jobs)  # the worker probes these itself
    store.insert(dataclasses.replace(_job("new"), probe=_probe()))
    got = store.get("new")
    assert got is not None and got.probe == _probe()
