"""Web sessions: random server-kept tokens, idle and absolute ends, one-by-one revocation."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.http import sessions as sessions_module
from api.http.sessions import SessionStore
from api.jobs.store import SCHEMA_VERSION, JobStore
from api.settings import Settings

KEY = "s3cret-key"
IDLE, MAX_AGE = 100.0, 1000.0
OLD_DB = Path(__file__).resolve().parents[2] / "data" / "jobs_v1.sqlite3"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(sessions_module.time, "time", clock)
    return clock


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.sqlite3"
    JobStore(path, Settings().analysis_options()).open().close()  # creates the schema
    return path


@pytest.fixture
def store(db: Path, clock: Clock) -> Iterator[SessionStore]:
    sessions = SessionStore(db, KEY, IDLE, MAX_AGE).open()
    yield sessions
    sessions.close()


def test_each_sign_in_gets_its_own_random_token(store: SessionStore) -> None:
    tokens = {store.create() for _ in range(20)}
    assert len(tokens) == 20 and all(len(t) >= 40 for t in tokens)
    assert all(store.valid(t) for t in tokens)


@pytest.mark.parametrize("token", ["", "x", "0" * 64, "a" * 43, "\u00e9\u00e9", "' OR 1=1 --"])
def test_tokens_the_server_never_gave_are_refused(store: SessionStore, token: str) -> None:
    store.create()
    assert not store.valid(token)


def test_the_database_keeps_a_hash_never_the_token(store: SessionStore, db: Path) -> None:
    token = store.create()
    rows = sqlite3.connect(db).execute("SELECT id, key_tag FROM sessions").fetchall()
    assert rows[0][0] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(rows) and KEY not in str(rows)


def test_revoking_one_session_leaves_the_others(store: SessionStore) -> None:
    first, second = store.create(), store.create()
    store.revoke(first)
    assert not store.valid(first) and store.valid(second)
    store.revoke(first)  # twice is fine


@pytest.mark.parametrize(
    ("steps", "alive"),
    [
        ([IDLE - 1], True),
        ([IDLE + 1], False),  # unused too long
        ([IDLE - 10] * 5, True),  # each use restarts the idle clock
        ([IDLE - 10] * 11 + [IDLE - 10], False),  # past the absolute end however used
        ([MAX_AGE + 1], False),
    ],
)
def test_idle_and_absolute_expiry(
    store: SessionStore, clock: Clock, steps: list[float], alive: bool
) -> None:
    token = store.create()
    for step in steps[:-1]:
        clock.now += step
        assert store.valid(token)
    clock.now += steps[-1]
    assert store.valid(token) is alive
    if not alive:
        clock.now -= steps[-1]  # an ended session stays ended
        assert not store.valid(token)


def test_a_new_key_ends_every_session(db: Path, store: SessionStore) -> None:
    tokens = [store.create() for _ in range(3)]
    rekeyed = SessionStore(db, "another-key", IDLE, MAX_AGE).open()
    try:
        assert not any(rekeyed.valid(t) for t in tokens)
    finally:
        rekeyed.close()
    assert not any(store.valid(t) for t in tokens)  # deleted on sight, for good


def test_expired_sessions_are_removed_when_one_is_created(
    store: SessionStore, clock: Clock, db: Path
) -> None:
    for _ in range(5):
        store.create()
    clock.now += IDLE + 1
    store.create()
    assert sqlite3.connect(db).execute("SELECT count(*) FROM sessions").fetchone()[0] == 1


def test_an_old_database_gains_the_sessions_table(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "jobs.sqlite3"
    shutil.copy(OLD_DB, path)
    before = sqlite3.connect(path).execute("SELECT count(*) FROM jobs").fetchone()[0]
    store = JobStore(path, Settings().analysis_options()).open()
    assert store.counts()  # the old jobs are readable
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == before
    sessions = SessionStore(path, KEY, IDLE, MAX_AGE).open()
    assert sessions.valid(sessions.create())
    sessions.close()
