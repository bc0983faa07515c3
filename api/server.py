"""The front process, wired in one place: every part is built and connected here.

``serve(settings)`` is what ``tiktok-analyzer serve`` calls; ``python -m api.server``
does the same with settings from the environment only. It opens the job store,
starts the worker launcher and the supervisor, connects the supervisor's
listeners (uploads removed, callbacks, waiting requests), builds the HTTP app
(``api/http/app.py``) and runs uvicorn in a thread; the main thread runs
``api/main_loop.py`` (signals, the supervisor's turns, systemd, the drain). On the
way out it stops the workers (running jobs stay queued for the next start).
"""

from __future__ import annotations

import logging
import shutil
import socket
import sqlite3
import sys
import threading
from pathlib import Path

import uvicorn

from analyzers.media import limits
from api import __version__
from api.errors import disk_full
from api.http.app import create_app
from api.http.context import AppContext
from api.jobs.address_guard import AddressGuard
from api.jobs.callbacks import CallbackSender
from api.jobs.files import UploadFiles
from api.jobs.intake import Intake
from api.jobs.keyframes import KeyframeStore
from api.jobs.record import Job
from api.jobs.retention import Retention
from api.jobs.store import JobStore
from api.logging_setup import FrontLogging, setup_front_logging
from api.main_loop import EXIT_CONFIG, SignalRecorder, run_main_loop
from api.pool.backends import BackendUnavailable, make_launcher
from api.pool.devices import plan_devices, visible_gpu_count
from api.pool.supervisor import Supervisor
from api.pool.write_behind import storage_problem
from api.sdnotify import Liveness, SystemdNotifier
from api.settings import Settings, load_settings
from monitoring.metrics import ServiceMetrics

log = logging.getLogger("api.server")

#: seconds uvicorn waits for open connections once the drain is over
HTTP_SHUTDOWN_GRACE_S = 5


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
    limits.configure(settings.media_limits())
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", settings.host, settings.port, exc)
        return 1
    try:
        store = JobStore(settings.db_path, settings.analysis_options()).open()
    except (sqlite3.Error, OSError) as exc:
        log.error("cannot open %s: %s", settings.db_path, _disk_problem(settings.data_dir, exc))
        sock.close()
        return 1
    files = UploadFiles(settings.uploads_dir)
    recovered = _recover_jobs(store, files)
    metrics, liveness, notifier = ServiceMetrics(), Liveness(), SystemdNotifier()
    gpus = visible_gpu_count() if settings.device in ("auto", "cuda") else 0
    devices = plan_devices(settings, gpus)
    signals = SignalRecorder()
    # Ray installs its own SIGTERM handler when it starts: ours go in after the launcher.
    try:
        launcher = make_launcher(settings, logs.queue, devices)
    except BackendUnavailable as exc:
        log.error("%s", exc)
        store.close()
        sock.close()
        return EXIT_CONFIG
    keyframes = KeyframeStore(settings.keyframes_dir)
    retention = Retention(settings, store, keyframes)

    def on_tick() -> None:
        liveness.tick_supervisor()
        retention.tick()

    supervisor = Supervisor(
        settings, store, metrics, launcher, devices, on_tick=on_tick, keyframes=keyframes
    )
    metrics.build_info.labels(
        __version__, settings.backend, settings.analyzer, settings.model, settings.quantization
    ).set(1)
    signals.wake = supervisor.wake
    signals.install()
    supervisor.add_listener(lambda job: files.remove(job.upload))
    guard = AddressGuard(allow_private=settings.url_allow_private)
    callbacks = CallbackSender(settings, store, guard)
    supervisor.add_listener(callbacks.job_ended)  # only queues: delivery is the sender's thread
    ctx = AppContext(
        settings, supervisor, store, Intake(settings, files, guard), metrics, liveness, keyframes
    )
    supervisor.add_listener(ctx.waiters.notify)  # wakes POST /analyze?wait=true
    app = create_app(ctx)
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
    supervisor.start(recovered)
    callbacks.resume()
    callbacks.start()
    http = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="http")
    http.start()
    host, port = sock.getsockname()[:2]
    log.info("listening on http://%s:%s with %d worker(s)", host, port, len(supervisor.slots))
    code = 1
    try:
        code = run_main_loop(settings, supervisor, server, http, signals, notifier, liveness)
    finally:
        supervisor.begin_drain()
        supervisor.shutdown()
        # Clients still waiting on a job that did not run get 202 and poll after the restart.
        ctx.waiters.notify_all()
        server.should_exit = True
        http.join(HTTP_SHUTDOWN_GRACE_S + 5)
        callbacks.stop()
        store.close()
        notifier.close()
        sock.close()
        log.info("stopped (exit code %d)", code)
    return code


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(2048)
    return sock


def _disk_problem(data_dir: Path, exc: BaseException) -> str:
    """Say 'disk full' in plain words when it is (SQLite says 'disk I/O error')."""
    try:
        free = shutil.disk_usage(data_dir).free
    except OSError:
        return str(exc)
    if free < 1024 * 1024 or disk_full(exc):
        return f"disk full ({free} bytes free on {data_dir}): {exc}"
    return storage_problem(exc)


def _recover_jobs(store: JobStore, files: UploadFiles) -> list[Job]:
    """Jobs a previous run left queued or running, minus those whose upload is gone."""
    recovered: list[Job] = []
    for job in store.recover():
        if job.upload.is_file():
            recovered.append(job)
        else:
            store.finish_error(job.id, "failed", "upload_missing", "the uploaded file was lost")
    files.remove_orphans({job.upload for job in recovered})
    return recovered


def main() -> int:
    """`python -m api.server`: settings from TIKTOK_ANALYZER_* variables only."""
    return serve(load_settings())


if __name__ == "__main__":
    sys.exit(main())
