"""GET /jobs/{id}/similar through the real server (and its workers): the same sound, a re-upload."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from analyzers.testing.library_clips import library_set
from tests.support.serverproc import ServerProcess, post_video

pytestmark = pytest.mark.skipif(shutil.which("fpcalc") is None, reason="needs fpcalc")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return library_set(tmp_path_factory.mktemp("similar"), width=120, height=212)


def test_similar_videos_and_the_metrics(server: ServerProcess, clips: dict[str, Path]) -> None:
    with server.client() as client, ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda p: post_video(client, p, frames=4), clips.values()))
        jobs = {}
        for name, reply in zip(clips, replies, strict=True):
            assert reply.status_code == 200, reply.text
            jobs[name] = reply.json()
        ids = {name: job["id"] for name, job in jobs.items()}
        found = client.get(f"/jobs/{ids['bed_a']}/similar")
        assert found.status_code == 200, found.text
        matches = {(s["job_id"], s["reason"]) for s in found.json()["similar"]}
        unknown = client.get("/jobs/no-such-job/similar")
        other = client.get(f"/jobs/{ids['other']}/similar").json()
    assert (ids["bed_b"], "same_sound") in matches and (ids["copy"], "same_video") in matches
    assert (ids["bed_b"], "same_video") not in matches
    assert ids["bed_a"] not in {job_id for job_id, _ in matches}
    assert not {ids["other"]} & {job_id for job_id, _ in matches}
    assert all(ids[n] not in {s["job_id"] for s in other["similar"]} for n in ids if n != "other")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "job_not_found"
    metrics = jobs["bed_a"]["result"]["metrics"]
    assert metrics["first_cut_s"] == pytest.approx(4.0, abs=0.1)
    assert metrics["loudness_lufs"] is not None and metrics["motion"] > 0
    assert "fingerprints" not in jobs["bed_a"]["result"]
