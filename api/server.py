"""The front process: HTTP server in a thread, supervisor loop and signals in the main thread.

``serve(settings)`` is what ``tiktok-analyzer serve`` calls; ``python -m api.server``
does the same with settings from the environment only.

SIGTERM/SIGINT: the handler only records the signal. The main loop then stops
accepting work (503), lets running jobs finish for up to drain_timeout_s, keeps
queued jobs in the store for the next start, stops the workers and returns 0.
A second signal skips the rest of the drain.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from api.app import create_app
from api.devices import plan_devices, visible_gpu_count
from api.jobs import JobStore
from api.logging_setup import FrontLogging, setup_front_logging
from api.sdnotify import Liveness, SystemdNotifier
from api.settings import Settings, load_settings
from api.supervisor import Supervisor
from monitoring.metrics import ServiceMetrics

log = logging.getLogger("api.server")

#: seconds uvicorn waits for open connections once the drain is over
HTTP_SHUTDOWN_GRACE_S = 5


class SignalRecorder:
    """Signal handlers that only write down what arrived and wake the main loop."""

    def __init__(self, wake: Callable[[], None] | None = None) -> None:
        self.received: list[int] = []
        self._wake = wake

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._record)

    def _record(self, sig: int, frame: FrameType | None) -> None:
        self.received.append(sig)
        if self._wake is not None:
            self._wake()

    def take(self) -> int | None:
        return self.received.pop(0) if self.received else None


def serve(settings: Settings) -> int:
    """Run the service until SIGTERM/SIGINT; returns the process exit code."""
    logs = setup_front_logging(settings.log_file, settings.log_level)
    try:
        return _serve(settings, logs)
    except Exception:
        log.exception("the server failed")
        return 1
    finally:
        logs.stop()


def _serve(settings: Settings, logs: FrontLogging) -> int:
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", settings.host, settings.port, exc)
        return 1
    store = JobStore(settings.db_path).open()
    _remove_orphan_uploads(settings.uploads_dir, store)
    metrics, liveness, notifier = ServiceMetrics(), Liveness(), SystemdNotifier()
    gpus = visible_gpu_count() if settings.device in ("auto", "cuda") else 0
    supervisor = Supervisor(
        settings,
        store,
        metrics,
        logs.queue,
        plan_devices(settings, gpus),
        on_tick=liveness.tick_supervisor,
    )
    app = create_app(settings, supervisor, store, metrics, liveness)
    signals = SignalRecorder(wake=supervisor.wake)
    signals.install()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_config=None,
            lifespan="on",
            # What a plain install has; pinned so the bench extra (uvloop, httptools)
            # does not change the server under test.
            loop="asyncio",
            http="h11",
            timeout_graceful_shutdown=HTTP_SHUTDOWN_GRACE_S,
            server_header=False,
        )
    )
    supervisor.start()
    http = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="http")
    http.start()
    host, port = sock.getsockname()[:2]
    log.info("listening on http://%s:%s with %d worker(s)", host, port, len(supervisor.slots))
    code = 1
    try:
        code = _main_loop(settings, supervisor, server, http, signals, notifier, liveness)
    finally:
        supervisor.begin_drain()
        supervisor.shutdown()
        # Clients still waiting on a job that did not run get 202 and poll after the restart.
        app.state.ctx.waiters.notify_all()
        server.should_exit = True
        http.join(HTTP_SHUTDOWN_GRACE_S + 5)
        store.close()
        notifier.close()
        sock.close()
        log.info("stopped (exit code %d)", code)
    return code


def _main_loop(
    settings: Settings,
    supervisor: Supervisor,
    server: uvicorn.Server,
    http: threading.Thread,
    signals: SignalRecorder,
    notifier: SystemdNotifier,
    liveness: Liveness,
) -> int:
    """The one loop: signals, the supervisor's turn, systemd notifications."""
    drain_deadline: float | None = None
    while True:
        sig = signals.take()
        if sig is not None:
            name = signal.Signals(sig).name
            if drain_deadline is not None:
                log.warning("%s again: stopping without waiting for running jobs", name)
                return 0
            log.info(
                "%s: draining; running jobs get up to %g s, queued jobs stay for the next start",
                name,
                settings.drain_timeout_s,
            )
            supervisor.begin_drain()
            notifier.stopping()
            drain_deadline = time.monotonic() + settings.drain_timeout_s
        if drain_deadline is not None:
            running = supervisor.running_count()
            if running == 0:
                return 0
            if time.monotonic() > drain_deadline:
                log.warning("drain timeout: %d running job(s) will run again next start", running)
                return 0
        if not http.is_alive():
            log.error("the HTTP server stopped unexpectedly")
            return 1
        supervisor.poll(0.5)
        if server.started and not notifier.ready_sent:
            ready = sum(1 for s in supervisor.slots if s.loaded)
            if ready:
                notifier.ready(f"{ready}/{len(supervisor.slots)} workers ready")
        notifier.watchdog(liveness)


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(2048)
    return sock


def _remove_orphan_uploads(uploads_dir: Path, store: JobStore) -> None:
    """Delete spooled files no queued or running job needs (a crash mid-upload leaves some)."""
    if not uploads_dir.is_dir():
        return
    keep = {str(Path(p).resolve()) for p in store.live_upload_paths()}
    removed = 0
    for path in uploads_dir.iterdir():
        if path.is_file() and str(path.resolve()) not in keep:
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("removed %d orphaned upload(s)", removed)


def main() -> int:
    """`python -m api.server`: settings from TIKTOK_ANALYZER_* variables only."""
    return serve(load_settings())


if __name__ == "__main__":
    sys.exit(main())
