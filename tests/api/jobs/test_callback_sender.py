"""The callback sender with a real store and a real receiver on 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.jobs.address_guard import AddressGuard
from api.jobs.callbacks import CallbackSender
from api.jobs.record import Callback, Job
from api.jobs.store import JobStore
from api.settings import Settings
from tests.support.loopback import FlakyReceiver, LoopbackSite, Route, send
from tests.support.serverproc import wait_for

DEFAULTS = Settings().analysis_options()
OPEN = AddressGuard(allow_private=True)


def _settings(**changes: float) -> Settings:
    base = {"callback_backoff_s": 0.05, "callback_retry_s": 30.0, "callback_timeout_s": 5.0}
    return Settings(public_url="http://front.test", **{**base, **changes})  # type: ignore[arg-type]


def _ended_job(store: JobStore, job_id: str, url: str) -> Job:
    job = Job(job_id, DEFAULTS, Path("/up/x"), "clip.mp4", 10, 2.0, callback=Callback(url))
    store.insert(job)
    store.finish_error(job_id, "failed", "not_a_video", "clip.mp4 is not a video file")
    got = store.get(job_id)
    assert got is not None
    return got


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[JobStore]:
    opened = JobStore(tmp_path / "jobs.sqlite3", DEFAULTS).open()
    yield opened
    opened.close()


@pytest.fixture()
def site() -> Iterator[LoopbackSite]:
    web = LoopbackSite()
    with web.running():
        yield web


def _callback(store: JobStore, job_id: str) -> Callback:
    job = store.get(job_id)
    assert job is not None and job.callback is not None
    return job.callback


def test_delivered_after_failures_and_recorded(store: JobStore, site: LoopbackSite) -> None:
    site.routes["/hook"] = FlakyReceiver(failures=2)
    job = _ended_job(store, "j1", site.url("/hook"))
    sender = CallbackSender(_settings(), store, OPEN)
    sender.start()
    try:
        sender.job_ended(job)
        wait_for(lambda: _callback(store, "j1").status == "delivered", 10, "delivery")
    finally:
        sender.stop()
    callback = _callback(store, "j1")
    assert callback.attempts == 3 and callback.delivered_at is not None
    assert callback.last_error == "the receiver answered HTTP 500"
    body = site.posts("/hook")[-1]
    assert body == {
        "job_id": "j1",
        "status": "failed",
        "error": {"code": "not_a_video", "message": "clip.mp4 is not a video file"},
        "links": {"job": "http://front.test/jobs/j1"},
    }


def test_retries_stop_after_the_bounded_time(store: JobStore, site: LoopbackSite) -> None:
    site.routes["/hook"] = FlakyReceiver(failures=1000)
    _ended_job(store, "j1", site.url("/hook"))
    sender = CallbackSender(_settings(callback_retry_s=0.5), store, OPEN)
    while (state := sender.deliver("j1")) is not None and state.status == "pending":
        pass
    callback = _callback(store, "j1")
    assert callback.status == "failed" and 2 <= callback.attempts <= 6
    assert sender.deliver("j1") is None  # settled: never sent again


def test_a_private_receiver_is_refused_at_delivery_too(store: JobStore, site: LoopbackSite) -> None:
    site.routes["/hook"] = FlakyReceiver(failures=0)
    _ended_job(store, "j1", site.url("/hook"))
    state = CallbackSender(_settings(callback_retry_s=0), store, AddressGuard()).deliver("j1")
    assert state is not None and state.status == "failed"
    assert state.last_error is not None and "not allowed" in state.last_error
    assert site.posts("/hook") == []


def test_undelivered_callbacks_resume_after_a_restart(
    store: JobStore, site: LoopbackSite, tmp_path: Path
) -> None:
    site.routes["/hook"] = FlakyReceiver(failures=0)
    _ended_job(store, "j1", site.url("/hook"))  # ended, then the process died before delivery
    store.close()
    reopened = JobStore(tmp_path / "jobs.sqlite3", DEFAULTS).open()
    sender = CallbackSender(_settings(), reopened, OPEN)
    assert sender.resume() == 1
    sender.start()
    try:
        wait_for(lambda: _callback(reopened, "j1").status == "delivered", 10, "delivery")
    finally:
        sender.stop()
        reopened.close()
    assert [b["job_id"] for b in site.posts("/hook")] == ["j1"]


def test_a_job_queued_twice_is_sent_once(store: JobStore, site: LoopbackSite) -> None:
    site.routes["/hook"] = FlakyReceiver(failures=0)
    job = _ended_job(store, "j1", site.url("/hook"))
    sender = CallbackSender(_settings(), store, OPEN)
    sender.job_ended(job)
    assert sender.resume() == 1  # the listener and the start-up scan both found it
    sender.start()
    try:
        wait_for(lambda: _callback(store, "j1").status == "delivered", 10, "delivery")
    finally:
        sender.stop()
    assert len(site.posts("/hook")) == 1  # the receiver got one POST
    assert _callback(store, "j1").attempts == 1


def _trickling(handler: BaseHTTPRequestHandler) -> None:
    """Answers 200, one header line every 0.2 s for 4 s: no single read ever waits long."""
    try:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for n in range(20):
            handler.wfile.write(b"X-Slow-%d: y\r\n" % n)
            handler.wfile.flush()
            time.sleep(0.2)
        handler.wfile.write(b"Content-Length: 0\r\n\r\n")
        handler.wfile.flush()
    except OSError:
        pass  # the sender gave up and closed the connection


def test_a_trickling_receiver_is_cut_off_at_the_attempt_deadline(
    store: JobStore, site: LoopbackSite
) -> None:
    site.routes["/hook"] = _trickling
    _ended_job(store, "j1", site.url("/hook"))
    sender = CallbackSender(_settings(callback_timeout_s=1.0, callback_retry_s=0), store, OPEN)
    state = sender.deliver("j1")
    assert state is not None and state.status == "failed" and state.attempts == 1
    assert state.last_error == "the receiver did not answer within 1 s"


SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def _verify_from_the_spec(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks verification, written from the spec (not from our module)."""
    lower = {k.lower(): v for k, v in headers.items()}
    key = base64.b64decode(secret.split("_", 1)[1])
    content = f"{lower['webhook-id']}.{lower['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    if abs(time.time() - int(lower["webhook-timestamp"])) > 300:
        return False
    given = [s.split(",", 1) for s in lower["webhook-signature"].split(" ")]
    return any(v == "v1" and hmac.compare_digest(sig, expected) for v, sig in given)


def test_callbacks_are_signed_per_standard_webhooks(store: JobStore, site: LoopbackSite) -> None:
    site.routes["/hook"] = FlakyReceiver(failures=1)
    _ended_job(store, "j1", site.url("/hook"))
    sender = CallbackSender(_settings(callback_secret=SECRET), store, OPEN)  # type: ignore[arg-type]
    sender.deliver("j1")
    sender.deliver("j1")
    (_, first, body1), (_, second, body2) = [r for r in site.received if r[0] == "/hook"][-2:]
    for headers, body in ((first, body1), (second, body2)):
        assert _verify_from_the_spec(SECRET, headers, body)
        assert not _verify_from_the_spec(SECRET, headers, body + b" ")
        assert not _verify_from_the_spec(SECRET.replace("w", "W", 1)[:6] + "x" * 44, headers, body)
    assert first["webhook-id"] == second["webhook-id"] == "msg_j1"  # a retry is the same message


def test_without_a_secret_callbacks_carry_id_and_time_but_no_signature(
    store: JobStore, site: LoopbackSite
) -> None:
    site.routes["/hook"] = FlakyReceiver(failures=0)
    _ended_job(store, "j1", site.url("/hook"))
    CallbackSender(_settings(), store, OPEN).deliver("j1")
    headers = {k.lower(): v for k, v in site.received[-1][1].items()}
    assert headers["webhook-id"] == "msg_j1" and "webhook-signature" not in headers


@pytest.mark.parametrize(
    "secret",
    [
        "0123456789abcdef0123456789abcdef",  # no whsec_ prefix
        "whsec_",
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"short").decode(),
        "WHSEC_" + base64.b64encode(b"0123456789abcdef").decode(),
    ],
)
def test_an_invalid_secret_is_a_configuration_error(secret: str) -> None:
    with pytest.raises(ValidationError, match="callback"):
        Settings(callback_secret=secret)  # type: ignore[arg-type]


def _slow_receiver(seconds: float) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        with contextlib.suppress(OSError):
            send(handler, 200, b"{}", "application/json")

    return route


def test_a_slow_receiver_does_not_delay_the_others(store: JobStore, site: LoopbackSite) -> None:
    site.routes["/slow"] = _slow_receiver(4.0)
    site.routes["/fast"] = FlakyReceiver(failures=0)
    slow = _ended_job(store, "slow", site.url("/slow"))
    fast = [_ended_job(store, f"fast{i}", site.url("/fast")) for i in range(3)]
    sender = CallbackSender(_settings(callback_timeout_s=10.0), store, OPEN)
    sender.start()
    try:
        sender.job_ended(slow)
        wait_for(lambda: any(r[0] == "/slow" for r in site.received), 5, "the slow receiver")
        started = time.monotonic()
        for job in fast:
            sender.job_ended(job)
        for job in fast:
            wait_for(lambda j=job: _callback(store, j.id).status == "delivered", 10, "fast")
        assert time.monotonic() - started < 2.0  # not queued behind the 4 s receiver
        assert _callback(store, "slow").status == "pending"
        wait_for(lambda: _callback(store, "slow").status == "delivered", 10, "slow delivery")
    finally:
        sender.stop()
