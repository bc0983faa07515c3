"""The Ray backend on a real two-node Ray cluster: spread, faults, drain, start and stop.

The API tests of test_analyze.py and test_bad_input.py run on this backend too
(the `server` fixture is parametrized); these are the Ray-only scenarios.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support.raycluster import add_node
from tests.support.serverproc import (
    ServerProcess,
    hanging,
    post_video,
    submit,
    wait_final,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, ray_cluster: Any
) -> Iterator[ServerProcess]:
    """Two actors on the shared cluster; each model call takes 2 s (the hanging analyzer)."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("server-ray-faults"),
        tiny_model_dir,
        backend="ray",
        ray_address=ray_cluster.address,
        **hanging(2),  # what Ray actors hang anyway: they do not see the front's environment
        job_timeout_s=60,
        heartbeat_timeout_s=10,
    )
    with srv.running():
        yield srv


def _on_worker(srv: ServerProcess, job_id: str) -> dict[str, Any] | None:
    return next((w for w in srv.health()[1]["workers"] if w["current_job"] == job_id), None)


def test_actors_spread_over_both_nodes_and_share_the_jobs(
    ray_server: ServerProcess, tiny_video: Path
) -> None:
    workers = ray_server.health()[1]["workers"]
    assert len({w["node"] for w in workers}) == 2, workers
    assert all(w["pid"] and w["state"] == "READY" for w in workers)
    with ray_server.client() as client:
        ids = [submit(client, tiny_video, frames=1) for _ in range(4)]
        finals = [wait_final(client, job_id, timeout=120) for job_id in ids]
    assert {f["status"] for f in finals} == {"done"}
    assert {f["worker_id"] for f in finals} == {0, 1}


def test_kill_9_of_an_actor_process_retries_the_job(
    ray_server: ServerProcess, tiny_video: Path
) -> None:
    with ray_server.client() as client:
        job_id = submit(client, tiny_video, frames=1)
        busy = wait_for(lambda: _on_worker(ray_server, job_id), 30, "the job on an actor")
        os.kill(busy["pid"], signal.SIGKILL)
        final = wait_final(client, job_id, timeout=120)
    assert final["status"] == "done", final
    assert final["attempts"] == 2
    wait_for(
        lambda: all(w["state"] == "READY" for w in ray_server.health()[1]["workers"]),
        120,
        "the actor replaced",
    )


def test_sigterm_of_the_front_drains_the_running_job(
    tmp_path: Path, tiny_model_dir: Path, tiny_video: Path, ray_cluster: Any
) -> None:
    srv = ServerProcess(
        tmp_path / "srv",
        tiny_model_dir,
        backend="ray",
        ray_address=ray_cluster.address,
        workers=1,
        **hanging(2),
    )
    with srv.running():
        with srv.client() as client:
            job_id = submit(client, tiny_video, frames=1)
            wait_for(lambda: _on_worker(srv, job_id), 30, "the job on the actor")
        assert srv.stop(signal.SIGTERM) == 0
        srv.start()
        srv.wait_ready()
        with srv.client() as client:
            assert client.get(f"/jobs/{job_id}").json()["status"] == "done"


def _ray_daemons() -> set[int]:
    names = ("raylet", "gcs_server")
    return {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in names}


def test_a_private_ray_starts_and_stops_with_the_service(
    tmp_path: Path, tiny_model_dir: Path, tiny_video: Path
) -> None:
    before = _ray_daemons()
    srv = ServerProcess(tmp_path / "srv", tiny_model_dir, backend="ray", ray_address="local")
    with srv.running():
        assert _ray_daemons() - before, "RAY_ADDRESS=local started no raylet"
        with srv.client() as client:
            assert post_video(client, tiny_video, frames=1).status_code == 200
        assert srv.stop(signal.SIGTERM) == 0  # Ray's own SIGTERM handler did not win
    wait_for(lambda: not (_ray_daemons() - before), 30, "raylet and GCS gone")


def test_without_ray_installed_the_start_fails_with_one_line(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    # A `ray` that cannot be imported stands in for a machine without the extra.
    stub = tmp_path / "no-ray" / "ray"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    srv = ServerProcess(tmp_path / "srv", tiny_model_dir, backend="ray")
    srv.env["PYTHONPATH"] = f"{stub.parent}{os.pathsep}{srv.env['PYTHONPATH']}"
    assert srv.exit_code() == 78
    assert "pip install 'tiktok-analyzer[ray]'" in srv.output()


def test_a_node_removed_mid_job_does_not_lose_the_job(
    ray_server: ServerProcess, tiny_video: Path, ray_cluster: Any
) -> None:
    """Runs last in this module: it takes a node away (and gives the cluster a new one)."""
    second = ray_cluster.list_all_nodes()[1]
    with ray_server.client() as client:
        ids = [submit(client, tiny_video, frames=1) for _ in range(2)]
        wait_for(lambda: all(_on_worker(ray_server, i) for i in ids), 30, "both jobs running")
        ray_cluster.remove_node(second)
        try:
            finals = [wait_final(client, job_id, timeout=180) for job_id in ids]
        finally:
            add_node(ray_cluster)
    assert [f["status"] for f in finals] == ["done", "done"], finals
    assert max(f["attempts"] for f in finals) == 2
