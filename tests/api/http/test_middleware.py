"""ApiKeyMiddleware: the key, the bearer token, the page's session cookie and the throttle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http.middleware import SESSION_COOKIE, ApiKeyMiddleware
from api.http.sessions import SessionStore
from api.http.throttle import FailureThrottle
from api.jobs.store import JobStore
from api.settings import Settings

KEY = "s3cret-key"
LIMIT = 4


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[SessionStore]:
    path = tmp_path / "jobs.sqlite3"
    JobStore(path, Settings().analysis_options()).open().close()
    store = SessionStore(path, KEY, 3600, 7200).open()
    yield store
    store.close()


@pytest.fixture
def client(sessions: SessionStore) -> Iterator[TestClient]:
    app = FastAPI()

    @app.get("/jobs")
    def jobs() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(
        ApiKeyMiddleware, key=KEY, sessions=sessions, throttle=FailureThrottle(LIMIT)
    )
    with TestClient(app) as test_client:
        yield test_client


def test_the_session_cookie_opens_a_data_path(client: TestClient, sessions: SessionStore) -> None:
    answer = client.get("/jobs", headers={"Cookie": f"{SESSION_COOKIE}={sessions.create()}"})
    assert answer.status_code == 200


def test_the_session_cookie_is_found_beside_a_json_cookie(
    client: TestClient, sessions: SessionStore
) -> None:
    # SimpleCookie gave up on the whole header here, while GET /session found the cookie.
    cookie = f'prefs={{"x": 1}}; other=a b; {SESSION_COOKIE}={sessions.create()}'
    assert client.get("/jobs", headers={"Cookie": cookie}).status_code == 200


def test_a_revoked_wrong_or_missing_cookie_is_refused(
    client: TestClient, sessions: SessionStore
) -> None:
    revoked = sessions.create()
    sessions.revoke(revoked)
    for cookie in (
        f'prefs={{"x": 1}}; {SESSION_COOKIE}=abc',
        f"{SESSION_COOKIE}={revoked}",
        f"{SESSION_COOKIE}=",
        'prefs={"x": 1}',
        None,
    ):
        headers = {"Cookie": cookie} if cookie is not None else {}
        assert client.get("/jobs", headers=headers).status_code == 401, cookie


def test_the_key_header_and_bearer_token_still_work(client: TestClient) -> None:
    by_header = client.get("/jobs", headers={"X-API-Key": KEY})
    by_bearer = client.get("/jobs", headers={"Authorization": f"Bearer {KEY}"})
    assert [by_header.status_code, by_bearer.status_code] == [200, 200]


@pytest.mark.parametrize(
    "wrong",
    [
        {"X-API-Key": "nope"},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"bearer {KEY}x"},
        {"X-API-Key": KEY[:-1]},
    ],
)
def test_wrong_keys_past_the_limit_get_429_even_with_the_right_key(
    client: TestClient, sessions: SessionStore, wrong: dict[str, str]
) -> None:
    statuses = [client.get("/jobs", headers=wrong).status_code for _ in range(LIMIT + 2)]
    assert statuses == [401] * LIMIT + [429, 429]
    refused = client.get("/jobs", headers={"X-API-Key": KEY})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # A live session is not a guess: the page keeps working for a person behind the same NAT.
    cookie = {"Cookie": f"{SESSION_COOKIE}={sessions.create()}"}
    assert client.get("/jobs", headers=cookie).status_code == 200


def test_missing_keys_and_wrong_cookies_are_not_counted_as_guesses(client: TestClient) -> None:
    for _ in range(LIMIT * 3):
        assert client.get("/jobs").status_code == 401
        assert client.get("/jobs", headers={"Cookie": f"{SESSION_COOKIE}=x"}).status_code == 401
    assert client.get("/jobs", headers={"X-API-Key": KEY}).status_code == 200
