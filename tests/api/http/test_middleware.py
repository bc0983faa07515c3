"""ApiKeyMiddleware: the key, the bearer token and the page's session cookie."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http.middleware import SESSION_COOKIE, ApiKeyMiddleware, session_token

KEY = "s3cret-key"


def _client() -> TestClient:
    app = FastAPI()

    @app.get("/jobs")
    def jobs() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(ApiKeyMiddleware, key=KEY)
    return TestClient(app)


def test_the_session_cookie_opens_a_data_path() -> None:
    with _client() as client:
        answer = client.get("/jobs", headers={"Cookie": f"{SESSION_COOKIE}={session_token(KEY)}"})
    assert answer.status_code == 200


def test_the_session_cookie_is_found_beside_a_json_cookie() -> None:
    # SimpleCookie gave up on the whole header here, while GET /session found the cookie.
    cookie = f'prefs={{"x": 1}}; other=a b; {SESSION_COOKIE}={session_token(KEY)}'
    with _client() as client:
        answer = client.get("/jobs", headers={"Cookie": cookie})
    assert answer.status_code == 200


def test_a_wrong_or_missing_cookie_is_refused() -> None:
    with _client() as client:
        wrong = client.get("/jobs", headers={"Cookie": f'prefs={{"x": 1}}; {SESSION_COOKIE}=abc'})
        missing = client.get("/jobs", headers={"Cookie": 'prefs={"x": 1}'})
        bare = client.get("/jobs")
    assert [wrong.status_code, missing.status_code, bare.status_code] == [401, 401, 401]


def test_the_key_header_and_bearer_token_still_work() -> None:
    with _client() as client:
        by_header = client.get("/jobs", headers={"X-API-Key": KEY})
        by_bearer = client.get("/jobs", headers={"Authorization": f"Bearer {KEY}"})
    assert [by_header.status_code, by_bearer.status_code] == [200, 200]
