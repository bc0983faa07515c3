"""A full disk under the data directory: nothing crashes, nothing is lost, it recovers by itself.

The data directory sits on a small tmpfs the test mounts (root only; skipped elsewhere).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.disks import small_tmpfs
from tests.support.serverproc import (
    ServerProcess,
    hanging,
    post_video,
    submit,
    wait_final,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", "8m") as mount:
        yield mount


def fill(disk: Path) -> list[Path]:
    """Write files until the disk says it is full; returns them (delete them to free it)."""
    filler = disk / "filler"
    block = b"\0" * 65536
    with contextlib.suppress(OSError), open(filler, "wb") as out:
        while True:
            out.write(block)
            out.flush()
    with contextlib.suppress(OSError), open(disk / "filler2", "wb") as out:
        while True:  # the last few bytes
            out.write(b"\0" * 512)
            out.flush()
    return [filler, disk / "filler2"]


def test_a_full_disk_degrades_then_recovers_without_losing_a_job(
    small_disk: Path, tmp_path: Path, tiny_model_dir: Path, tiny_video: Path
) -> None:
    srv = ServerProcess(
        tmp_path / "srv",
        tiny_model_dir,
        workers=1,
        prefetch="false",
        **hanging(3),
        data_dir=small_disk / "data",
    )
    with srv.running(), srv.client() as client:
        first = submit(client, tiny_video, frames=1)
        queued = submit(client, tiny_video, frames=1)
        wait_for(lambda: srv.health()[1]["busy_workers"] == 1, 30, "the first job running")
        fillers = fill(small_disk)

        # The first job ends while the database cannot take its result.
        body = wait_for(
            lambda: (h := srv.health()[1])["status"] == "degraded" and h, 30, "degraded"
        )
        assert "disk full" in body["reason"], body["reason"]

        uploads = small_disk / "data" / "uploads"
        before = set(uploads.iterdir())
        refused = post_video(client, tiny_video, frames=1)
        assert refused.status_code == 507, refused.text
        assert refused.json()["error"]["code"] == "insufficient_storage"
        assert set(uploads.iterdir()) == before  # no partial file of the refused upload

        cancel = client.delete(f"/jobs/{queued}")
        assert cancel.status_code == 507, cancel.text
        assert client.get(f"/jobs/{queued}").json()["status"] == "queued"

        for filler in fillers:
            filler.unlink()
        assert wait_final(client, first, timeout=30)["status"] == "done"
        wait_for(lambda: srv.health()[0] == 200, 30, "ready again")
        assert wait_final(client, queued, timeout=60)["status"] == "done"
        assert srv.proc is not None and srv.proc.poll() is None


def test_starting_on_a_full_disk_says_disk_full(
    small_disk: Path, tmp_path: Path, tiny_model_dir: Path
) -> None:
    (small_disk / "data").mkdir()
    fill(small_disk)
    srv = ServerProcess(tmp_path / "srv", tiny_model_dir, data_dir=small_disk / "data")
    assert srv.exit_code() == 1
    log = srv.log_file.read_text()
    assert "disk full" in log, log[-2000:]
    assert "Traceback" not in log
