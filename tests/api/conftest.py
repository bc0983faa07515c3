"""Fixtures for the serving tests: small videos and a shared real server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analyzers.testing.clips import make_video
from tests.support.raycluster import two_node_cluster
from tests.support.serverproc import NotifyListener, ServerProcess


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s, 96x160 portrait: the cheapest real upload."""
    out = tmp_path_factory.mktemp("api-videos") / "tiny_2s.mp4"
    return make_video(out, width=96, height=160, duration_s=2, fps=10)


@pytest.fixture(scope="session")
def notify() -> Iterator[NotifyListener]:
    listener = NotifyListener(f"tiktok-analyzer-test-{uuid.uuid4().hex}")
    yield listener
    listener.close()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """One real two-node Ray cluster for every test that needs one."""
    pytest.importorskip("ray", reason="the Ray backend is an extra: pip install '.[ray]'")
    with two_node_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session", params=["local", "ray"])
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_model_dir: Path,
    notify: NotifyListener,
) -> Iterator[ServerProcess]:
    """One server per backend, shared by the tests that leave it as they found it (2 workers).

    The same API tests run against the local pool and the Ray backend.
    """
    backend: dict[str, Any] = {"backend": request.param}
    if request.param == "ray":
        backend["ray_address"] = request.getfixturevalue("ray_cluster").address
    srv = ServerProcess(
        tmp_path_factory.mktemp(f"server-{request.param}"),
        tiny_model_dir,
        max_upload_mb=1,
        max_duration_s=20,
        max_frames=8,
        **backend,
    )
    with srv.running({"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "1000000"}):
        yield srv
