"""The front's main thread: signals, the supervisor's turns, systemd notifications, the drain.

SIGTERM/SIGINT: the handler only records the signal. The loop then stops accepting
work (503), lets running jobs finish for up to drain_timeout_s, keeps queued jobs in
the store for the next start and returns 0. A second signal skips the rest of the drain.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

import uvicorn

from api.pool.supervisor import Supervisor
from api.sdnotify import Liveness, SystemdNotifier
from api.settings import Settings

log = logging.getLogger("api.server")

#: exit status for a configuration error a restart cannot fix (sysexits EX_CONFIG);
#: the systemd unit lists it in RestartPreventExitStatus=
EXIT_CONFIG = 78


class SignalRecorder:
    """Signal handlers that only write down what arrived and wake the main loop."""

    def __init__(self, wake: Callable[[], None] | None = None) -> None:
        self.received: list[int] = []
        self.wake = wake

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._record)

    def _record(self, sig: int, frame: FrameType | None) -> None:
        self.received.append(sig)
        if self.wake is not None:
            self.wake()

    def take(self) -> int | None:
        return self.received.pop(0) if self.received else None


def run_main_loop(
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
        if drain_deadline is not None and _drained(supervisor, drain_deadline):
            return 0
        if not http.is_alive():
            log.error("the HTTP server stopped unexpectedly")
            return 1
        supervisor.poll(0.5)
        if _report(supervisor, server, notifier) == "config_error":
            return EXIT_CONFIG
        notifier.watchdog(liveness)


def _drained(supervisor: Supervisor, deadline: float) -> bool:
    running = supervisor.running_count()
    if running == 0:
        return True
    if time.monotonic() > deadline:
        log.warning("drain timeout: %d running job(s) will run again next start", running)
        return True
    return False


def _report(supervisor: Supervisor, server: uvicorn.Server, notifier: SystemdNotifier) -> str:
    """Tell systemd how the pool is; 'config_error' when it must give up starting."""
    snap = supervisor.snapshot()
    ready = sum(1 for w in snap.workers if w.loaded)
    unavailable = snap.model_unavailable
    if unavailable is not None and not snap.ever_ready:
        notifier.status(f"model unavailable: {unavailable}")
        if notifier.enabled:
            # Under systemd a restart cannot fix this: fail the start now, with the
            # reason, and let RestartPreventExitStatus= stop the loop.
            log.error("giving up: no worker can load the model: %s", unavailable)
            return "config_error"
        return "unavailable"  # by hand: the front stays up and /health says why
    text = f"{ready}/{len(snap.workers)} workers ready"
    if server.started and ready and not notifier.ready_sent:
        notifier.ready(text)
    notifier.status(text if ready else f"loading the model ({text})")
    return "ok"
