"""Worker process: loads one analyzer, then analyses the jobs the supervisor sends it.

Messages on the pipe, worker -> front (tuples, tag first):
    ("state", "STARTING" | "READY" | "ERROR", info)    info: model info, or code + message
    ("hb", {"job": id | None, "progress": [done, total] | None})   every heartbeat_interval_s
    ("begin", job_id)                 decoding started: the job's clock runs
    ("prepared", job_id, prepare_s)   decoded; waiting for the model does not count
    ("model", job_id)                 the model started on it: the clock runs again
    ("done", job_id, result, busy)    busy: model_started_at / model_finished_at (epoch s)
    ("error", job_id, code, message)
    ("released", ok)
front -> worker: ("job", payload), ("release",), ("stop",)

Threads: the main thread runs the model; a prefetch thread decodes the next job
meanwhile (settings.prefetch); a reader thread takes messages from the pipe; a
heartbeat thread beats even during a long model call, so a hung model call is
caught by the per-job time limit, and a silent worker (frozen interpreter,
SIGSTOP) by the heartbeat timeout.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import queue
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from typing import Any

from analyzers.errors import AnalyzerError
from analyzers.sampling import stuck_decoder_threads
from api.logging_setup import setup_worker_logging
from api.settings import Settings

log = logging.getLogger("api.worker")

PR_SET_PDEATHSIG = 1


def worker_main(
    settings: Settings,
    worker_id: int,
    device: str,
    conn: Connection,
    log_queue: Queue[Any],
    parent_pid: int,
    cpu_threads: int,
) -> None:
    """Entry point of a spawned worker process."""
    _die_with_parent(parent_pid)
    # The front decides when workers stop (after draining); Ctrl-C and systemd's
    # SIGTERM to the whole cgroup must not cut a job short. SIGKILL still works.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    setup_worker_logging(log_queue, settings.log_level)
    analyzer_device = _select_device(device, cpu_threads)
    code = Worker(settings, worker_id, analyzer_device, conn, parent_pid).run()
    logging.shutdown()
    sys.exit(code)


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when the front process dies, however it dies."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the heartbeat thread's getppid() check and the pipe EOF remain
    if os.getppid() != parent_pid:
        os._exit(0)  # the parent died before prctl took effect


def _select_device(device: str, cpu_threads: int) -> str:
    """Pin this process to its device before torch is imported; returns the device to use."""
    if device.startswith("cuda:"):
        index = int(device.split(":", 1)[1])
        visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
        # One visible GPU per worker: no stray CUDA context on GPU 0 from every worker.
        os.environ["CUDA_VISIBLE_DEVICES"] = visible[index] if index < len(visible) else str(index)
        return "cuda:0"
    if device == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        import torch

        # Workers share the cores; each using all of them would oversubscribe the CPU.
        torch.set_num_threads(max(1, cpu_threads))
    return device


class Worker:
    """The threads of one worker process around one loaded analyzer."""

    def __init__(
        self, settings: Settings, worker_id: int, device: str, conn: Connection, parent_pid: int
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.device = device
        self.conn = conn
        self.parent_pid = parent_pid
        self._send_lock = threading.Lock()
        self.incoming: queue.Queue[dict[str, Any] | None] = queue.Queue()
        # maxsize 1: at most one decoded video waits for the model (memory stays bounded).
        self.prepared: queue.Queue[tuple[dict[str, Any], Any, float]] = queue.Queue(maxsize=1)
        self.stopping = threading.Event()
        self.release_requested = threading.Event()
        self.current_job: str | None = None
        self.progress: tuple[int, int] | None = None
        self.analyzer: Any = None
        self.model_info: Any = None

    # --- plumbing ----------------------------------------------------------------
    def send(self, message: tuple[Any, ...]) -> None:
        try:
            with self._send_lock:
                self.conn.send(message)
        except (OSError, EOFError, ValueError):
            os._exit(0)  # the front process is gone: nothing left to work for

    def _heartbeat_loop(self) -> None:
        interval = self.settings.heartbeat_interval_s
        while True:
            if os.getppid() != self.parent_pid:
                os._exit(0)
            progress = list(self.progress) if self.progress else None
            self.send(("hb", {"job": self.current_job, "progress": progress}))
            time.sleep(interval)

    def _reader_loop(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                os._exit(0)  # pipe closed: the front died
            kind = message[0]
            if kind == "job":
                self.incoming.put(message[1])
            elif kind == "release":
                self.release_requested.set()
            elif kind == "stop":
                self.stopping.set()
                self.incoming.put(None)

    # --- life --------------------------------------------------------------------
    def run(self) -> int:
        self.send(("state", "STARTING", {"pid": os.getpid(), "device": self.device}))
        for target, name in ((self._heartbeat_loop, "heartbeat"), (self._reader_loop, "reader")):
            threading.Thread(target=target, name=name, daemon=True).start()
        if not self._load():
            return 3
        if self.settings.prefetch:
            threading.Thread(target=self._prefetch_loop, name="prefetch", daemon=True).start()
        while not self.stopping.is_set():
            item = self._next_prepared()
            if item is None:
                self._maybe_release_memory()
                continue
            self._run_model(*item)
            if stuck_decoder_threads():
                # A decoder thread blocked in C cannot be killed from Python; a fresh
                # process is the only way to get its CPU and memory back.
                log.warning(
                    "worker %d has a stuck decoder thread; exiting to be replaced", self.worker_id
                )
                return 4
        log.info("worker %d stopping", self.worker_id)
        return 0

    def _load(self) -> bool:
        from analyzers.registry import create_analyzer

        started = time.perf_counter()
        try:
            self.analyzer = create_analyzer(
                self.settings.analyzer, self.settings.analyzer_config(self.device)
            )
            self.model_info = self.analyzer.load()
        except AnalyzerError as exc:
            log.error("worker %d cannot load the model: %s", self.worker_id, exc.message)
            self.send(("state", "ERROR", {"code": exc.code, "message": exc.message}))
            return False
        except Exception as exc:  # reported as ERROR so /health can say why
            log.exception("worker %d failed while loading the model", self.worker_id)
            message = f"model loading failed: {type(exc).__name__}: {exc}"
            self.send(("state", "ERROR", {"code": "model_load_failed", "message": message}))
            return False
        info = self.model_info.model_dump(mode="json")
        log.info(
            "worker %d ready on %s in %.1f s (%s %s)",
            self.worker_id,
            self.device,
            time.perf_counter() - started,
            info["name"],
            info["quantization"],
        )
        self.send(("state", "READY", info))
        return True

    def _next_prepared(self) -> tuple[dict[str, Any], Any, float] | None:
        if self.settings.prefetch:
            try:
                return self.prepared.get(timeout=0.25)
            except queue.Empty:
                return None
        try:
            job = self.incoming.get(timeout=0.25)
        except queue.Empty:
            return None
        return None if job is None else self._prepare(job)

    def _prefetch_loop(self) -> None:
        while True:
            job = self.incoming.get()
            if job is None:
                return
            # Blocks while one decoded video already waits: decode runs one job ahead.
            self.prepared.put(self._prepare(job))

    def _prepare(self, job: dict[str, Any]) -> tuple[dict[str, Any], Any, float]:
        """Decode and preprocess; returns (job, PreparedVideo or AnalyzerError, seconds)."""
        from analyzers.pipeline import prepare

        self.send(("begin", job["id"]))
        started = time.perf_counter()
        outcome: Any
        try:
            options = self.settings.analysis_options(job["frames"], job["aspects"])
            outcome = prepare(job["path"], self.analyzer, options)
        except AnalyzerError as exc:
            outcome = exc
        except Exception as exc:  # a bad file fails its job, never the worker
            log.exception("decoding failed", extra={"job_id": job["id"]})
            outcome = AnalyzerError(f"the video could not be decoded: {type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - started
        self.send(("prepared", job["id"], elapsed))
        return job, outcome, elapsed

    def _run_model(self, job: dict[str, Any], prepared: Any, prepare_s: float) -> None:
        from analyzers.pipeline import describe_prepared

        job_id = job["id"]
        if isinstance(prepared, AnalyzerError):
            self.send(("error", job_id, prepared.code, prepared.message))
            return
        self.current_job, self.progress = job_id, None
        self.send(("model", job_id))
        model_started = time.time()
        try:
            result = describe_prepared(prepared, self.analyzer, self.model_info, self._on_progress)
        except AnalyzerError as exc:
            self.send(("error", job_id, exc.code, exc.message))
            return
        except Exception as exc:  # the job fails; the worker takes the next one
            log.exception("analysis failed", extra={"job_id": job_id})
            message = f"analysis failed: {type(exc).__name__}: {exc}"
            self.send(("error", job_id, "analysis_failed", message))
            return
        finally:
            self.current_job, self.progress = None, None
        model_finished = time.time()
        busy = {"model_started_at": model_started, "model_finished_at": model_finished}
        log.info(
            "analysed in %.2f s (decode %.2f s, model %.2f s)",
            prepare_s + model_finished - model_started,
            prepare_s,
            model_finished - model_started,
            extra={"job_id": job_id},
        )
        self.send(("done", job_id, result.model_dump(mode="json"), busy))

    def _on_progress(self, done: int, total: int) -> None:
        self.progress = (done, total)

    def _maybe_release_memory(self) -> None:
        if not self.release_requested.is_set():
            return
        self.release_requested.clear()
        ok = True
        try:
            gc.collect()
            self.analyzer.release_memory()
        except Exception:  # a failed clean-up must not end the worker
            log.exception("release_memory failed")
            ok = False
        self.send(("released", ok))
