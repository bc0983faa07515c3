"""What routes need, handed to them as a FastAPI dependency: ``ctx: Ctx``."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from api.http.sessions import SessionStore
from api.http.throttle import FailureThrottle
from api.jobs.intake import Intake
from api.jobs.keyframes import KeyframeStore
from api.jobs.record import Job
from api.jobs.store import JobStore
from api.pool.supervisor import Supervisor
from api.sdnotify import Liveness
from api.settings import Settings
from monitoring.metrics import ServiceMetrics


class JobWaiters:
    """Lets POST /analyze?wait=true sleep until the pool finishes its job."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, list[asyncio.Event]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    def register(self, job_id: str) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._events.setdefault(job_id, []).append(event)
        return event

    def unregister(self, job_id: str, event: asyncio.Event) -> None:
        with self._lock:
            events = self._events.get(job_id, [])
            if event in events:
                events.remove(event)
            if not events:
                self._events.pop(job_id, None)

    def notify(self, job: Job) -> None:
        """From any thread: wake whoever waits for this job."""
        self._wake(job.id)

    def notify_all(self) -> None:
        with self._lock:
            ids = list(self._events)
        for job_id in ids:
            self._wake(job_id)

    def _wake(self, job_id: str) -> None:
        with self._lock:
            events = list(self._events.get(job_id, []))
        if self.loop is not None:
            for event in events:
                self.loop.call_soon_threadsafe(event.set)


@dataclass
class AppContext:
    """Everything a route needs; built once by api/server.py."""

    settings: Settings
    pool: Supervisor
    store: JobStore
    intake: Intake
    metrics: ServiceMetrics
    liveness: Liveness
    keyframes: KeyframeStore
    waiters: JobWaiters = field(default_factory=JobWaiters)
    #: the web page's sessions, when an API key is set (create_app opens them)
    sessions: SessionStore | None = None
    #: wrong keys per client address, shared by the key check and POST /session
    throttle: FailureThrottle = field(default_factory=lambda: FailureThrottle(10))
    started_at: float = field(default_factory=time.time)


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]
