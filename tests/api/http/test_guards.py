"""Host names, cross-origin writes and security headers, each as a table of variants."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http.guards import (
    STRICT_CSP,
    HostGuard,
    OriginGuard,
    SecurityHeaders,
    allowed_hosts,
    host_name,
    origin_of,
)
from api.settings import Settings

PUBLIC = "https://videos.example.com"
SELF = "http://127.0.0.1:8003"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/jobs", methods=["GET", *WRITES])
    def jobs() -> dict[str, bool]:
        return {"ok": True}

    return app


def _origin_client() -> TestClient:
    app = _app()
    app.add_middleware(OriginGuard, public_url=PUBLIC)
    return TestClient(app, base_url=SELF)


FOREIGN = [
    {"Origin": "http://127.0.0.1:9000"},  # another port of the same host
    {"Origin": "http://127.0.0.1:9000", "Sec-Fetch-Site": "same-site"},
    {"Origin": "http://localhost:8003"},  # another name for the same server
    {"Origin": "https://127.0.0.1:8003"},  # another scheme
    {"Origin": "http://127.0.0.1"},  # the default port is another port
    {"Origin": "null"},  # sandboxed frames, file: pages
    {"Origin": "http://evil.example"},
    {"Origin": "http://127.0.0.1:8003.evil.example"},
    {"Origin": "http://evil.example/http://127.0.0.1:8003"},
    {"Origin": "https://videos.example.com:8443"},
    {"Origin": "http://videos.example.com"},
    {"Origin": "not a url"},
    {"Origin": "http://127.0.0.1:99999"},
    {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "cross-site"},  # a browser that leaves out Origin
    {"Sec-Fetch-Site": "same-site"},
]
OWN = [
    {},  # curl, scripts, SDKs
    {"Origin": SELF},
    {"Origin": "HTTP://127.0.0.1:8003"},
    {"Origin": SELF, "Sec-Fetch-Site": "same-origin"},
    {"Origin": PUBLIC},
    {"Origin": "https://videos.example.com:443"},
    {"Origin": "https://VIDEOS.example.com"},
    {"Sec-Fetch-Site": "none"},  # typed into the address bar
    {"Sec-Fetch-Site": "same-origin"},
    # A proxy changed the scheme on the way: the browser's own word wins.
    {"Origin": "https://127.0.0.1:8003", "Sec-Fetch-Site": "same-origin"},
]


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("headers", FOREIGN)
def test_a_write_from_another_origin_is_refused(method: str, headers: dict[str, str]) -> None:
    with _origin_client() as client:
        answer = client.request(method, "/jobs", headers=headers)
    assert answer.status_code == 403, headers
    assert answer.json()["error"]["code"] == "forbidden_origin"


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("headers", OWN)
def test_a_write_from_the_page_or_without_origin_passes(
    method: str, headers: dict[str, str]
) -> None:
    with _origin_client() as client:
        assert client.request(method, "/jobs", headers=headers).status_code == 200, headers


@pytest.mark.parametrize("headers", FOREIGN)
def test_reads_are_left_to_the_browsers_same_origin_rule(headers: dict[str, str]) -> None:
    with _origin_client() as client:
        assert client.get("/jobs", headers=headers).status_code == 200


def test_own_origin_follows_the_host_header() -> None:
    # Served as localhost:8003, the page's origin is http://localhost:8003.
    with _origin_client() as client:
        own = client.post(
            "/jobs", headers={"Host": "localhost:8003", "Origin": "http://localhost:8003"}
        )
        other = client.post("/jobs", headers={"Host": "localhost:8003", "Origin": SELF})
    assert [own.status_code, other.status_code] == [200, 403]


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://a.example", ("http", "a.example", 80)),
        ("https://A.example:443/x?y", ("https", "a.example", 443)),
        ("http://[::1]:8003", ("http", "::1", 8003)),
        ("null", None),
        ("ftp://a.example", None),
        ("http://a.example:notaport", None),
        ("http://", None),
    ],
)
def test_origin_of(url: str, origin: tuple[str, str, int] | None) -> None:
    assert origin_of(url) == origin


def _hosts(**settings: str) -> frozenset[str] | None:
    return allowed_hosts(Settings(**settings))  # type: ignore[arg-type]


def test_default_hosts_are_the_bind_address_loopback_and_the_public_url() -> None:
    assert _hosts() == {"127.0.0.1", "localhost", "[::1]"}
    assert _hosts(host="::1") == {"127.0.0.1", "localhost", "[::1]"}
    assert _hosts(host="10.1.2.3", public_url="https://u:p@Videos.Example.com:8443/base") == {
        "127.0.0.1",
        "localhost",
        "[::1]",
        "10.1.2.3",
        "videos.example.com",
    }
    # A list adds names: loopback and the bind address stay (the local health check).
    assert _hosts(allowed_hosts="a.example, B.example:8080") == {
        "a.example",
        "b.example",
        "127.0.0.1",
        "localhost",
        "[::1]",
    }
    assert _hosts(allowed_hosts="*") is None
    assert _hosts(allowed_hosts="a.example,*") is None


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("localhost:8003", "localhost"),
        ("LOCALHOST", "localhost"),
        ("[::1]:8003", "[::1]"),
        ("[::1]", "[::1]"),
        (" 127.0.0.1:80 ", "127.0.0.1"),
        ("[::1", "[::1"),
    ],
)
def test_host_name(host: str, name: str) -> None:
    assert host_name(host) == name


def _host_client(hosts: frozenset[str] | None) -> TestClient:
    app = _app()
    app.add_middleware(HostGuard, hosts=hosts)
    return TestClient(app, base_url=SELF)


DEFAULT = allowed_hosts(Settings(public_url=PUBLIC))


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8003",
        "127.0.0.1.evil.example",
        "localhost.evil.example",
        "localhost.",  # the same name with the root dot is another name to a browser
        "127.0.0.2",
        "127.1",
        "2130706433",  # 127.0.0.1 as one number
        "0.0.0.0",
        "[::2]",
        "[::ffff:127.0.0.1]",
        "videos.example.com.evil.example",
        "",
    ],
)
def test_a_foreign_host_name_gets_400(host: str) -> None:
    with _host_client(DEFAULT) as client:
        answer = client.get("/jobs", headers={"Host": host})
    assert answer.status_code == 400, host
    assert answer.json()["error"]["code"] == "invalid_host"


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:8003",
        "127.0.0.1",
        "localhost:8003",
        "LocalHost",
        "[::1]:8003",
        "videos.example.com",
    ],
)
def test_an_allowed_host_name_passes(host: str) -> None:
    with _host_client(DEFAULT) as client:
        assert client.get("/jobs", headers={"Host": host}).status_code == 200


def test_star_turns_the_host_check_off() -> None:
    with _host_client(None) as client:
        assert client.get("/jobs", headers={"Host": "evil.example"}).status_code == 200


def test_every_answer_carries_the_security_headers() -> None:
    app = _app()
    app.add_middleware(SecurityHeaders)

    @app.get("/own-csp")
    def own() -> object:
        from fastapi.responses import PlainTextResponse

        return PlainTextResponse("x", headers={"Content-Security-Policy": "default-src 'none'"})

    with TestClient(app) as client:
        for path, csp in (
            ("/jobs", STRICT_CSP),
            ("/missing", STRICT_CSP),
            ("/own-csp", "default-src 'none'"),
        ):
            answer = client.get(path)
            assert answer.headers["content-security-policy"] == csp
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert answer.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in STRICT_CSP
    assert "unsafe-inline" not in STRICT_CSP and "unsafe-eval" not in STRICT_CSP
