"""Web-page sessions: random tokens the server keeps in SQLite, with idle and absolute ends.

The cookie holds a random token; the database holds only its SHA-256, the times, and an
HMAC of that hash under the API key of the sign-in, so a new key ends every session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

#: last_seen is written at most this often per session (a read per request, rare writes)
TOUCH_EVERY_S = 60.0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class SessionStore:
    """The ``sessions`` table of the job database (created by its schema migration)."""

    def __init__(self, path: Path, key: str, idle_s: float, max_age_s: float) -> None:
        self.path, self.key = path, key.encode()
        self.idle_s, self.max_age_s = idle_s, max_age_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def open(self) -> SessionStore:
        conn = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=10.0
        )
        # Sessions may be lost in a power cut (the page asks for the key again): no fsync.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        self._conn = conn
        return self

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _tag(self, digest: str) -> str:
        return hmac.new(self.key, digest.encode(), hashlib.sha256).hexdigest()

    def _run(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._conn is None:
                raise RuntimeError("session store is closed")
            return list(self._conn.execute(sql, args).fetchall())

    def create(self) -> str:
        """A new session's token (the cookie value); expired sessions go on the way."""
        now = time.time()
        self._run(
            "DELETE FROM sessions WHERE created_at < ? OR last_seen < ?",
            now - self.max_age_s,
            now - self.idle_s,
        )
        token = secrets.token_urlsafe(32)
        digest = _digest(token)
        self._run("INSERT INTO sessions VALUES (?, ?, ?, ?)", digest, self._tag(digest), now, now)
        return token

    def valid(self, token: str) -> bool:
        """Whether ``token`` is a live session of the current key (and mark it used)."""
        if not token:
            return False
        digest = _digest(token)
        rows = self._run("SELECT key_tag, created_at, last_seen FROM sessions WHERE id = ?", digest)
        if not rows:
            return False
        tag, created, seen = rows[0]
        now = time.time()
        expired = now - created > self.max_age_s or now - seen > self.idle_s
        if expired or not hmac.compare_digest(tag, self._tag(digest)):
            self._run("DELETE FROM sessions WHERE id = ?", digest)
            return False
        if now - seen > TOUCH_EVERY_S:
            self._run("UPDATE sessions SET last_seen = ? WHERE id = ?", now, digest)
        return True

    def revoke(self, token: str) -> None:
        """End one session (sign out); other browsers keep theirs."""
        self._run("DELETE FROM sessions WHERE id = ?", _digest(token))
