"""The access rules on a real server: sessions, the throttle, Host, Origin, headers, and
early refusals that reach a client which sends its whole body before reading (urllib)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.http.guards import DOCS_CSP, STRICT_CSP
from api.http.middleware import SESSION_COOKIE
from tests.support.serverproc import ServerProcess, free_port

API_KEY = "access-key-0123456789"
LIMIT = 10  # the default AUTH_MAX_FAILURES


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("access"),
        tiny_model_dir,
        workers=1,
        api_key=API_KEY,
        max_upload_mb=1,
        public_url="https://videos.example.com",
    )
    with server.running():
        yield server


def _from(srv: ServerProcess, address: str, **kwargs: Any) -> httpx.Client:
    """A client whose requests come from another loopback address (its own throttle count)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=srv.url, transport=transport, timeout=30, **kwargs)


def test_wrong_keys_past_the_limit_get_429_on_the_header_and_on_session(
    srv: ServerProcess,
) -> None:
    wrong = {"X-API-Key": "guess"}
    with _from(srv, "127.0.0.2") as client:
        started = time.perf_counter()
        statuses = [client.get("/jobs", headers=wrong).status_code for _ in range(LIMIT + 5)]
        elapsed = time.perf_counter() - started
        assert statuses == [401] * LIMIT + [429] * 5, statuses
        right = client.get("/jobs", headers={"X-API-Key": API_KEY})
        assert right.status_code == 429 and right.json()["error"]["code"] == "too_many_attempts"
        assert 1 <= int(right.headers["retry-after"]) <= 60
        session = client.post("/session", json={"api_key": API_KEY})
        assert session.status_code == 429 and "retry-after" in session.headers
    print(f"{LIMIT + 5} wrong keys in {elapsed:.3f} s; the {LIMIT + 1}th got 429")
    with _from(srv, "127.0.0.3") as other:  # another address is not held back
        assert other.get("/jobs", headers={"X-API-Key": API_KEY}).status_code == 200
    with _from(srv, "127.0.0.4") as client:  # /session and the header share one count
        for n in range(LIMIT):
            if n % 2:
                assert client.post("/session", json={"api_key": f"g{n}"}).status_code == 401
            else:
                assert (
                    client.get("/info", headers={"Authorization": f"Bearer g{n}"}).status_code
                    == 401
                )
        assert client.post("/session", json={"api_key": "again"}).status_code == 429
        assert client.get("/info", headers={"X-API-Key": "again"}).status_code == 429


def test_sessions_are_random_separate_and_revocable(srv: ServerProcess) -> None:
    with _from(srv, "127.0.0.5") as first, _from(srv, "127.0.0.5") as second:
        for browser in (first, second):
            answer = browser.post("/session", json={"api_key": API_KEY})
            assert answer.status_code == 200
            assert "HttpOnly" in answer.headers["set-cookie"]
        one, two = first.cookies[SESSION_COOKIE], second.cookies[SESSION_COOKIE]
        assert one != two and API_KEY not in one
        assert first.get("/info").status_code == 200 and second.get("/info").status_code == 200
        assert first.delete("/session").status_code == 200
        # The old cookie, sent again by hand, is refused by the server: not only forgotten.
        replay = httpx.get(srv.url + "/info", cookies={SESSION_COOKIE: one})
        assert replay.status_code == 401
        assert httpx.get(srv.url + "/session", cookies={SESSION_COOKIE: one}).json() == {
            "key_required": True,
            "authenticated": False,
        }
        assert second.get("/info").status_code == 200


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("evil.example", 400),
        ("127.0.0.1.evil.example:{port}", 400),
        ("localhost.:{port}", 400),
        ("127.0.0.1:{port}", 200),
        ("localhost:{port}", 200),
        ("[::1]:{port}", 200),
        ("videos.example.com", 200),
    ],
)
def test_only_known_host_names_are_answered(srv: ServerProcess, host: str, status: int) -> None:
    answer = httpx.get(
        srv.url + "/health/live", headers={"Host": host.format(port=srv.port)}, timeout=10
    )
    assert answer.status_code == status
    if status == 400:
        assert answer.json()["error"]["code"] == "invalid_host"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/analyze", {"files": {"file": ("a.mp4", b"x" * 100, "video/mp4")}}),
        ("POST", "/analyze", {"data": {"url": "https://example.com/v.mp4"}}),
        ("POST", "/admin/release-memory", {}),
        ("DELETE", "/jobs/abc", {}),
        ("POST", "/session", {"json": {"api_key": API_KEY}}),
        ("DELETE", "/session", {}),
    ],
)
def test_writes_from_another_origin_get_403_even_with_the_key(
    srv: ServerProcess, method: str, path: str, body: dict[str, Any]
) -> None:
    other_port = f"http://127.0.0.1:{free_port()}"
    for origin in (other_port, "null", "http://localhost:" + str(srv.port)):
        answer = httpx.request(
            method,
            srv.url + path,
            headers={"X-API-Key": API_KEY, "Origin": origin},
            timeout=30,
            **body,
        )
        assert answer.status_code == 403, (origin, answer.text)
        assert answer.json()["error"]["code"] == "forbidden_origin"
    for origin in (srv.url, "https://videos.example.com"):
        own = httpx.post(
            srv.url + "/admin/release-memory",
            headers={"X-API-Key": API_KEY, "Origin": origin},
            timeout=30,
        )
        assert own.status_code == 200, own.text


def test_every_answer_carries_the_security_headers(srv: ServerProcess) -> None:
    key = {"X-API-Key": API_KEY}
    for path, headers, csp in [
        ("/", {}, STRICT_CSP),
        ("/static/app.js", {}, STRICT_CSP),
        ("/static/nothing.js", {}, STRICT_CSP),
        ("/health/live", {}, STRICT_CSP),
        ("/info", {}, STRICT_CSP),  # 401
        ("/jobs", key, STRICT_CSP),
        ("/openapi.json", key, STRICT_CSP),
        ("/docs", key, DOCS_CSP),
        ("/redoc", key, DOCS_CSP),
    ]:
        answer = httpx.get(srv.url + path, headers=headers, timeout=10)
        assert answer.headers["content-security-policy"] == csp, path
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["referrer-policy"] == "no-referrer", path
    docs = httpx.get(srv.url + "/docs", headers=key, timeout=10).text
    assert "<script>" not in docs and "<script src=" in docs


def _urllib(
    srv: ServerProcess, size: int, headers: dict[str, str], path: str = "/analyze"
) -> tuple[int, dict[str, Any], float]:
    """POST ``size`` bytes with urllib, which sends the whole body before it reads."""
    boundary = "xyzzy"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    body = head + b"\0" * size + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        srv.url + path,
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **headers},
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer), time.perf_counter() - started
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused), time.perf_counter() - started


@pytest.mark.parametrize(
    ("headers", "size", "status", "code"),
    [
        ({}, 4 * 2**20, 401, "unauthorized"),
        ({"X-API-Key": API_KEY}, 3 * 2**20, 413, "upload_too_large"),
        (
            {"X-API-Key": API_KEY, "Origin": "http://evil.example"},
            4 * 2**20,
            403,
            "forbidden_origin",
        ),
        ({"X-API-Key": API_KEY, "Host": "evil.example"}, 4 * 2**20, 400, "invalid_host"),
    ],
)
def test_an_early_refusal_reaches_a_client_that_sends_everything_first(
    srv: ServerProcess, headers: dict[str, str], size: int, status: int, code: str
) -> None:
    got, body, elapsed = _urllib(srv, size, headers)
    assert (got, body["error"]["code"]) == (status, code)
    print(f"{status} {code} after {size} bytes reached urllib in {elapsed:.2f} s")
