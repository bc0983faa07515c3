"""systemd notify protocol (READY, WATCHDOG, STOPPING) over NOTIFY_SOCKET, no dependency."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Liveness:
    """Last time each loop ticked; the watchdog is fed only while all of them are recent."""

    def __init__(self) -> None:
        now = time.monotonic()
        self.event_loop = now
        self.supervisor = now

    def tick_event_loop(self) -> None:
        self.event_loop = time.monotonic()

    def tick_supervisor(self) -> None:
        self.supervisor = time.monotonic()

    def stalled(self, max_age_s: float) -> list[str]:
        now = time.monotonic()
        ages = {"event loop": now - self.event_loop, "supervisor": now - self.supervisor}
        return [name for name, age in ages.items() if age > max_age_s]


class SystemdNotifier:
    """Sends notify messages when systemd asked for them; a no-op otherwise."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        # An abstract socket is written '@name' and means a leading NUL byte.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_s = _watchdog_interval(env)
        self.ready_sent = False
        self._last_status = ""
        self._last_ping = 0.0
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, message: str) -> bool:
        if not self.enabled:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.sendto(message.encode(), self.address)
            return True
        except OSError as exc:
            # systemd gone or socket not there: the service itself must keep running.
            log.warning("sd_notify %r failed: %s", message.split("\n", 1)[0], exc)
            return False

    def ready(self, status: str) -> None:
        if not self.ready_sent:
            self._last_status = status
            self.ready_sent = self.send(f"READY=1\nSTATUS={status}") or not self.enabled

    def status(self, text: str) -> None:
        """Keep `systemctl status` current; sends only when the text changes."""
        if text != self._last_status:
            self._last_status = text
            self.send(f"STATUS={text}")

    def stopping(self, status: str = "draining jobs") -> None:
        self.send(f"STOPPING=1\nSTATUS={status}")

    def watchdog(self, liveness: Liveness) -> None:
        """Ping at half the watchdog interval, only while every loop has ticked recently."""
        if self.watchdog_s is None:
            return
        now = time.monotonic()
        if now - self._last_ping < self.watchdog_s / 2:
            return
        stalled = liveness.stalled(max(2.0, self.watchdog_s / 2))
        if stalled:
            log.error("not feeding the systemd watchdog: %s stalled", ", ".join(stalled))
            return
        if self.send("WATCHDOG=1"):
            self._last_ping = now

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    # WATCHDOG_PID names the process systemd watches; a child that inherited it must stay quiet.
    if not usec.isdigit() or int(usec) <= 0 or (pid.isdigit() and int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000
