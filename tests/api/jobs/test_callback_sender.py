"""The callback sender with a real store and a real receiver on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from api.jobs.callbacks import CallbackSender
from api.jobs.address_guard import AddressGuard
from api.jobs.record import Callback, Job
from api.jobs.store import JobStore
from api.settings import Settings
from tests.support.loopback import FlakyReceiver, LoopbackSite
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
