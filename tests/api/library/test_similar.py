"""The fingerprint tables: written with the result, looked up by index, gone with the job."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from api.jobs.store import SCHEMA_VERSION, JobStore
from api.library.similar import Similar
from api.settings import Settings
from tests.api.jobs.test_store import V1_DATABASE, _job

DEFAULTS = Settings().analysis_options()
RNG = np.random.default_rng(21)


def _items(count: int) -> list[int]:
    return RNG.integers(0, 2**32, count, dtype=np.uint64).tolist()


def _frames(count: int) -> list[int]:
    # Random 64-bit hashes: about 32 bits set, none flat.
    return RNG.integers(0, 2**63, count, dtype=np.uint64).tolist()


def _flip(values: list[int], bits: int) -> list[int]:
    """Each value with its ``bits`` lowest bits flipped (a re-encode's small differences)."""
    return [v ^ ((1 << bits) - 1) for v in values]


def _finish(store: JobStore, job_id: str, audio: list[int], frames: list[int], **kw: float) -> None:
    store.insert(_job(job_id))
    prints = {"audio": audio, "frames": frames}
    assert store.finish_done(
        job_id, {}, model_started_at=1, model_finished_at=2, fingerprints=prints, **kw
    )


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    store = JobStore(tmp_path / "jobs.sqlite3", DEFAULTS).open()
    sound, frames = _items(100), _frames(8)
    _finish(store, "original", sound, frames)
    _finish(store, "same-sound", _flip(sound[10:90], 2), _frames(8))
    _finish(store, "re-encode", _flip(sound, 1), _flip(frames, 3))
    _finish(store, "unrelated", _items(100), _frames(8), now=1.0)
    return store


def test_same_sound_and_same_video_found_by_index(store: JobStore) -> None:
    found = store.similar_jobs("original")
    assert {(s.job_id, s.reason) for s in found} == {
        ("same-sound", "same_sound"),
        ("re-encode", "same_sound"),
        ("re-encode", "same_video"),
    }
    assert all(0 < s.score <= 1 for s in found)
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)
    assert Similar("same-sound", "same_sound", 1.0) in found  # all 80 items of the shorter
    assert store.similar_jobs("unrelated") == []


def test_different_pictures_over_one_sound_are_not_same_video(store: JobStore) -> None:
    reasons = {s.reason for s in store.similar_jobs("same-sound")}
    assert reasons == {"same_sound"}


def test_retention_removes_the_fingerprints_with_the_job(store: JobStore) -> None:
    assert store.remove_finished_before(10.0) == ["unrelated"]
    with sqlite3.connect(store.path) as conn:
        for table in ("fingerprints", "sound_index", "picture_index"):
            left = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE job_id = 'unrelated'")
            assert left.fetchone()[0] == 0
            assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] > 0


def test_a_job_without_fingerprints_has_no_similar(store: JobStore) -> None:
    store.insert(_job("no-prints"))
    assert store.finish_done("no-prints", {}, model_started_at=1, model_finished_at=2)
    assert store.similar_jobs("no-prints") == []
    assert "no-prints" not in {s.job_id for s in store.similar_jobs("original")}


def test_an_old_database_migrates_to_the_fingerprint_tables(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    shutil.copy(V1_DATABASE, path)
    store = JobStore(path, DEFAULTS).open()
    sound = _items(80)
    _finish(store, "new-1", sound, _frames(4))
    _finish(store, "new-2", sound, _frames(4))
    assert [s.job_id for s in store.similar_jobs("new-1")] == ["new-2"]
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
