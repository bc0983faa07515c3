"""Completion callbacks: when a job ends, POST its status to the URL the client gave.

One scheduler thread hands due deliveries to a small pool of sender threads, off the
supervisor loop (the listener only puts the job id on a queue): a slow receiver holds
one sender for at most ``callback_timeout_s`` and never delays the others. Each
callback is signed per Standard Webhooks when ``callback_secret`` is set. Each
attempt is written to the job's row, so the delivery shows in GET /jobs/{id} and
survives a restart (``resume`` picks up the pending).
A failed attempt is retried with doubling waits until ``callback_retry_s`` after
the job ended; then the callback is marked failed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import heapq
import json
import logging
import threading
import time
from typing import Any

import httpx

from analyzers.errors import AnalyzerError
from api.jobs.address_guard import AddressGuard
from api.jobs.fetch import parse_url, resolve
from api.jobs.record import Callback, Job
from api.jobs.store import JobStore
from api.jobs.webhook_signing import headers as webhook_headers
from api.masking import masked_url
from api.settings import Settings

log = logging.getLogger("api.jobs.callbacks")

#: longest wait between two attempts, however many failed before
MAX_BACKOFF_S = 300.0
#: characters of an error kept on the job
ERROR_CHARS = 300
#: deliveries in flight at once (each bounded by callback_timeout_s)
SENDERS = 16


def payload(job: Job, base_url: str) -> dict[str, Any]:
    """The JSON body posted to the callback URL."""
    links = {"job": f"{base_url}/jobs/{job.id}"}
    if job.status == "done":
        links["result"] = f"{base_url}/jobs/{job.id}/export?format=json"
    error = (
        {"code": job.error_code, "message": job.error_message or job.error_code}
        if job.error_code
        else None
    )
    return {"job_id": job.id, "status": job.status, "error": error, "links": links}


class CallbackSender:
    """Delivers completion callbacks in parallel, with retries, recorded in the store."""

    def __init__(self, settings: Settings, store: JobStore, guard: AddressGuard) -> None:
        self.settings, self.store, self.guard = settings, store, guard
        self.key = settings.callback_key()
        self._senders = concurrent.futures.ThreadPoolExecutor(SENDERS, "callback-send")
        self._in_flight: set[concurrent.futures.Future[Callback | None]] = set()
        self._due: list[tuple[float, str]] = []
        self._queued: set[str] = set()  # one entry per job: resume() and the listener may overlap
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="callbacks", daemon=True)

    def start(self) -> None:
        if self.key is None:
            log.warning(
                "callbacks are sent unsigned: set TIKTOK_ANALYZER_CALLBACK_SECRET "
                "(whsec_<base64>) so receivers can verify them"
            )
        self._thread.start()

    def resume(self) -> int:
        """Queue the callbacks of ended jobs a previous run had not delivered; how many."""
        pending = self.store.pending_callbacks()
        for job_id in pending:
            self.schedule(job_id)
        if pending:
            log.info("resuming %d undelivered callback(s)", len(pending))
        return len(pending)

    def job_ended(self, job: Job) -> None:
        """Supervisor listener: never blocks, only queues."""
        if job.callback is not None:
            self.schedule(job.id)

    def schedule(self, job_id: str, at: float | None = None) -> None:
        with self._cond:
            if job_id in self._queued:
                return
            self._queued.add(job_id)
            heapq.heappush(self._due, (time.time() if at is None else at, job_id))
            self._cond.notify()

    def stop(self) -> None:
        """Stop after the attempt in flight (its outcome is recorded before the store closes)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(self.settings.callback_timeout_s + 1.0)
        concurrent.futures.wait(list(self._in_flight), self.settings.callback_timeout_s + 1.0)
        self._senders.shutdown(wait=False, cancel_futures=True)

    def _next(self) -> str | None:
        """Wait for the next due job id; None when stopping."""
        with self._cond:
            while not self._stopping:
                now = time.time()
                if self._due and self._due[0][0] <= now:
                    job_id = heapq.heappop(self._due)[1]
                    self._queued.discard(job_id)
                    return job_id
                wait = self._due[0][0] - now if self._due else None
                self._cond.wait(wait)
            return None

    def _run(self) -> None:
        while (job_id := self._next()) is not None:
            future = self._senders.submit(self._deliver_logged, job_id)
            self._in_flight.add(future)
            future.add_done_callback(self._in_flight.discard)

    def _deliver_logged(self, job_id: str) -> Callback | None:
        try:
            return self.deliver(job_id)
        except Exception:
            log.exception("callback of job %s", job_id)
            return None

    def deliver(self, job_id: str) -> Callback | None:
        """One attempt for the job's callback; records it and schedules the retry if needed."""
        job = self.store.get(job_id)
        if job is None or job.callback is None or job.callback.status != "pending":
            return None  # removed, or already settled
        error = self._post(job, job.callback.url)
        attempts = job.callback.attempts + 1
        if error is None:
            done = dataclasses.replace(
                job.callback, status="delivered", attempts=attempts, delivered_at=time.time()
            )
            self.store.record_callback(job.id, done)
            log.info("callback delivered after %d attempt(s)", attempts, extra={"job_id": job.id})
            return done
        retry_at = time.time() + min(
            self.settings.callback_backoff_s * 2 ** (attempts - 1), MAX_BACKOFF_S
        )
        give_up = retry_at > (job.finished_at or time.time()) + self.settings.callback_retry_s
        state = dataclasses.replace(
            job.callback,
            status="failed" if give_up else "pending",
            attempts=attempts,
            last_error=error[:ERROR_CHARS],
        )
        self.store.record_callback(job.id, state)
        if give_up:
            log.warning(
                "callback to %s not delivered after %d attempt(s): %s",
                masked_url(job.callback.url),
                attempts,
                error,
                extra={"job_id": job.id},
            )
        else:
            self.schedule(job.id, retry_at)
        return state

    def _post(self, job: Job, url: str) -> str | None:
        """POST the payload once (no redirects); the error, or None when it was accepted.

        The whole attempt (name lookup, connect, send, the answer's status) has one deadline:
        httpx's timeout bounds each read, and a receiver trickling its answer would otherwise
        hold a sender thread for as long as it likes."""
        limit = self.settings.callback_timeout_s
        try:
            return asyncio.run(asyncio.wait_for(self._attempt(job, url), limit))
        except asyncio.TimeoutError:
            return f"the receiver did not answer within {limit:g} s"

    async def _attempt(self, job: Job, url: str) -> str | None:
        try:
            pinned = await resolve(parse_url(url, "callback_url"), self.guard)
        except AnalyzerError as exc:
            return exc.message
        body = json.dumps(payload(job, self.settings.base_url)).encode()
        # The id stays the same across retries, so a receiver can drop a repeat.
        signing = webhook_headers(self.key, f"msg_{job.id}", int(time.time()), body)
        sent = {**pinned.headers, **signing, "content-type": "application/json"}
        timeout = self.settings.callback_timeout_s
        try:
            # trust_env=False: a proxy would connect for us and defeat the address check.
            async with (
                httpx.AsyncClient(timeout=timeout, trust_env=False) as client,
                client.stream(
                    "POST",
                    pinned.url,
                    content=body,
                    headers=sent,
                    extensions=pinned.extensions,
                ) as response,
            ):
                status = response.status_code  # the body is never read
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= status < 300:
            return None
        return f"the receiver answered HTTP {status}"
