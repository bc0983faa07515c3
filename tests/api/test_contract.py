"""The HTTP contract: schemathesis against the real server, and the details it cannot see."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.serverproc import ServerProcess, post_video

API_KEY = "contract-key-0123456789"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)


@pytest.fixture(scope="module")
def keyed_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("server-keyed"),
        tiny_model_dir,
        workers=1,
        api_key=API_KEY,
        max_upload_mb=1,
        max_frames=4,
        wait_timeout_s=5,
    )
    with srv.running():
        yield srv


def _schemathesis(srv: ServerProcess, tmp_path: Path, *headers: str) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None, "schemathesis is a dev dependency (make install)"
    command = [st, "run", f"{srv.url}/openapi.json", "--checks", CHECKS, "--max-examples", "25"]
    command += ["--request-timeout", "30", "--generation-deterministic"]
    for header in headers:
        command += ["-H", header]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:]


def test_schemathesis_finds_nothing(server: ServerProcess, tmp_path: Path) -> None:
    _schemathesis(server, tmp_path)


def test_schemathesis_finds_nothing_behind_the_api_key(
    keyed_server: ServerProcess, tmp_path: Path
) -> None:
    _schemathesis(keyed_server, tmp_path, f"X-API-Key: {API_KEY}")


def test_openapi_documents_the_real_error_body_and_headers(server: ServerProcess) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert "HTTPValidationError" not in str(spec)
    analyze = spec["paths"]["/analyze"]["post"]
    for status, response in analyze["responses"].items():
        if status[0] in "45":
            assert response["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
    assert set(analyze["responses"]["202"]["headers"]) == {"Location", "Retry-After"}
    assert "Retry-After" in analyze["responses"]["503"]["headers"]
    frames = next(p for p in analyze["parameters"] if p["name"] == "frames")
    bounds = next(o for o in frames["schema"]["anyOf"] if o.get("type") == "integer")
    assert bounds["maximum"] == 8  # the server's max_frames
    aspects = next(p for p in analyze["parameters"] if p["name"] == "aspects")
    assert "camera" in aspects["description"]


def test_options_says_allow_and_head_answers_health(server: ServerProcess) -> None:
    response = httpx.options(f"{server.url}/jobs/any")
    assert response.status_code == 204
    assert response.headers["allow"] == "DELETE, GET, OPTIONS"
    head = httpx.head(f"{server.url}/health")
    assert head.status_code == 200 and head.content == b""


def test_202_carries_retry_after_and_location(server: ServerProcess, tiny_video: Path) -> None:
    with server.client() as client:
        response = post_video(client, tiny_video, frames=1, wait="false")
    assert response.status_code == 202
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["location"] == f"/jobs/{response.json()['id']}"


def test_jobs_page_with_a_cursor(server: ServerProcess, tiny_video: Path) -> None:
    with server.client() as client:
        for _ in range(3):
            post_video(client, tiny_video, frames=1, wait="false")
        first = client.get("/jobs", params={"limit": 2}).json()
        second = client.get("/jobs", params={"limit": 2, "after": first["next_after"]}).json()
        assert {j["id"] for j in first["jobs"]}.isdisjoint(j["id"] for j in second["jobs"])
        newest = [j["created_at"] for j in first["jobs"] + second["jobs"]]
        assert newest == sorted(newest, reverse=True)
        unknown = client.get("/jobs", params={"after": "x" * 60})
        assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "invalid_option"
        huge = client.get("/jobs", params={"offset": 10553285057174796288})
        assert huge.status_code == 422


def test_error_messages_echo_little_of_the_input(server: ServerProcess, tiny_video: Path) -> None:
    with server.client() as client:
        many = ",".join(f"nope{i}" for i in range(5_000))  # under the 64 KB field cap
        response = post_video(client, tiny_video, aspects=many)
        assert response.status_code == 422 and len(response.content) < 1000
        missing = client.get("/jobs/" + "z" * 20_000)
        assert missing.status_code in (404, 414) and len(missing.content) < 1000
