"""What a worker does, whatever carries its messages (a pipe or a Ray actor).

Threads: the caller's thread runs the model; a prefetch thread decodes the next
job meanwhile (settings.prefetch). The transport feeds :attr:`Worker.inbox`
and delivers what :meth:`Worker.send` is given; see api.pool.protocol.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from analyzers.errors import AnalyzerError, InvalidOptionError, ModelLoadError
from analyzers.media import limits
from analyzers.media.sampling import stuck_decoder_threads
from api.jobs.record import Job, Progress
from api.pool.protocol import (
    Heartbeat,
    JobBegun,
    JobDone,
    JobFailed,
    JobOnModel,
    JobPrepared,
    MemoryReleased,
    ReleaseMemory,
    RunJob,
    Stop,
    ToFront,
    ToWorker,
    WorkerFailed,
    WorkerReady,
    WorkerStarting,
)
from api.settings import Settings

if TYPE_CHECKING:  # the engine imports the pipeline: loaded in the worker process only
    from analyzers.engine import Engine
    from analyzers.pipeline import PreparedVideo

log = logging.getLogger("api.worker")

#: exit codes of a worker process
EXIT_STOPPED, EXIT_LOAD_FAILED, EXIT_STUCK_DECODER = 0, 3, 4


@dataclass
class Prepared:
    """A job after decoding: the frames ready for the model, or why there are none."""

    job: Job
    video: PreparedVideo | AnalyzerError  # the error that stopped it, if one did
    prepare_s: float


def _share(
    progress: Progress | None, on_model: tuple[tuple[str, int], ...], frames: int
) -> Progress | None:
    """One job's progress in a batch: its frames times the batch's done fraction (all end
    together); None when the analyzer counts otherwise (a video-level one, one by one)."""
    total = sum(count for _, count in on_model)
    if progress is None or total == 0 or progress.frames_total != total:
        return None
    return Progress(progress.frames_done * frames // total, frames)


def is_permanent(exc: BaseException) -> bool:
    """True when restarting the worker cannot fix this load error (configuration, files)."""
    if isinstance(exc, InvalidOptionError):
        return True
    if isinstance(exc, ModelLoadError):
        text = exc.message.lower()
        return not any(word in text for word in ("cuda", "gpu", "out of memory"))
    return False


class Worker:
    """One loaded analyzer and the loop that feeds it jobs."""

    def __init__(
        self, settings: Settings, worker_id: int, device: str, send: Callable[[ToFront], None]
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.device = device
        self.send = send
        limits.configure(settings.media_limits())  # every file this worker opens is bounded
        self.inbox: queue.Queue[ToWorker] = queue.Queue()
        # At most batch_videos decoded videos wait for the model (memory stays bounded).
        self.prepared: queue.Queue[Prepared] = queue.Queue(maxsize=settings.batch_videos)
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self.stopping = threading.Event()
        self.release_requested = threading.Event()
        #: the jobs on the model now, each with its frame count (several share the calls)
        self.on_model: tuple[tuple[str, int], ...] = ()
        #: frames done of all of them, as the analyzer counts
        self.progress: Progress | None = None
        self.engine: Engine | None = None  # the analyzer and its stages, once loaded
        # On a CPU box the model already has the cores: decoding ahead beside it takes one
        # thread, or the two fight (measured in bench_serving); a GPU box leaves it free.
        self.decode_threads = 1 if device == "cpu" and settings.prefetch else None

    def heartbeat(self) -> Heartbeat:
        on_model, progress = self.on_model, self.progress  # the model thread replaces them
        if not on_model:
            return Heartbeat(None, None)
        if len(on_model) == 1:
            return Heartbeat(on_model[0][0], progress)
        shares = tuple((job_id, _share(progress, on_model, frames)) for job_id, frames in on_model)
        return Heartbeat(shares[0][0], shares[0][1], shares[1:])

    def deliver(self, message: ToWorker) -> None:
        """Called by the transport for each message from the front."""
        if isinstance(message, RunJob):
            self.deliver_job(message.job)
        elif isinstance(message, ReleaseMemory):
            self.release_requested.set()
        elif isinstance(message, Stop):
            self.stopping.set()
            self._jobs.put(None)

    def deliver_job(self, job: Job) -> None:
        self._jobs.put(job)

    # --- life ----------------------------------------------------------------------
    def run(self, node: str | None = None) -> int:
        """Load, then analyse jobs until told to stop; returns the process exit code."""
        self.send(WorkerStarting(os.getpid(), self.device, node))
        if not self.load():
            return EXIT_LOAD_FAILED
        if self.settings.prefetch:
            threading.Thread(target=self._prefetch_loop, name="prefetch", daemon=True).start()
        while not self.stopping.is_set():
            item = self._next_prepared()
            if item is None:
                self._maybe_release_memory()
                continue
            self._run_model(item)
            if stuck_decoder_threads():
                # A decoder thread blocked in C cannot be killed from Python; a fresh
                # process is the only way to get its CPU and memory back.
                log.warning(
                    "worker %d has a stuck decoder thread; exiting to be replaced", self.worker_id
                )
                return EXIT_STUCK_DECODER
        log.info("worker %d stopping", self.worker_id)
        return EXIT_STOPPED

    def load(self) -> bool:
        from analyzers.engine import Engine

        started = time.perf_counter()
        try:
            # Shots, OCR, speech: each skipped with a warning when it cannot load; readiness
            # depends on the main analyzer alone.
            self.engine = Engine.load(
                self.settings.analyzer,
                self.settings.analyzer_config(self.device),
                self.settings.stages_config(keyframes=True),
            )
        except AnalyzerError as exc:
            log.error("worker %d cannot load the model: %s", self.worker_id, exc.message)
            self.send(WorkerFailed(exc.code, exc.message, is_permanent(exc)))
            return False
        except Exception as exc:  # reported so /health can say why
            log.exception("worker %d failed while loading the model", self.worker_id)
            message = f"model loading failed: {type(exc).__name__}: {exc}"
            self.send(WorkerFailed("model_load_failed", message, False))
            return False
        info = self.engine.model_info.model_dump(mode="json")
        log.info(
            "worker %d ready on %s in %.1f s (%s %s)",
            self.worker_id,
            self.device,
            time.perf_counter() - started,
            info["name"],
            info["quantization"],
        )
        self.send(WorkerReady(info))
        return True

    # --- jobs ----------------------------------------------------------------------
    def _next_prepared(self) -> Prepared | None:
        if self.settings.prefetch:
            try:
                return self.prepared.get(timeout=0.25)
            except queue.Empty:
                return None
        try:
            job = self._jobs.get(timeout=0.25)
        except queue.Empty:
            return None
        return None if job is None else self.prepare(job)

    def _prefetch_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            # Blocks while one decoded video already waits: decode runs one job ahead.
            self.prepared.put(self.prepare(job))

    def prepare(self, job: Job) -> Prepared:
        """Decode and preprocess; a bad file fails its job, never the worker."""
        assert self.engine is not None, "prepare() before load()"
        self.send(JobBegun(job.id))
        started = time.perf_counter()
        outcome: PreparedVideo | AnalyzerError
        try:
            # The intake's probe travels with the job: the file is opened once more, not twice.
            outcome = self.engine.prepare(
                job.upload, job.options, probe=job.probe, threads=self.decode_threads
            )
        except AnalyzerError as exc:
            outcome = exc
        except Exception as exc:
            log.exception("decoding failed", extra={"job_id": job.id})
            outcome = AnalyzerError(f"the video could not be decoded: {type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - started
        self.send(JobPrepared(job.id, elapsed))
        return Prepared(job, outcome, elapsed)

    def _more_prepared(self) -> list[Prepared]:
        """Videos already decoded and waiting, to share the model's calls (none are awaited)."""
        more: list[Prepared] = []
        while len(more) < self.settings.batch_videos - 1:
            try:
                more.append(self.prepared.get_nowait())
            except queue.Empty:
                break
        return more

    def _run_model(self, item: Prepared) -> None:
        assert self.engine is not None, "_run_model() before load()"
        batch: list[tuple[Prepared, PreparedVideo]] = []
        for each in [item, *self._more_prepared()]:
            if isinstance(each.video, AnalyzerError):
                self.send(JobFailed(each.job.id, each.video.code, each.video.message))
            else:
                batch.append((each, each.video))
        if not batch:
            return
        self.progress = None
        self.on_model = tuple((each.job.id, len(video.timestamps)) for each, video in batch)
        ids = tuple(job_id for job_id, _ in self.on_model)
        for job_id in ids:
            self.send(JobOnModel(job_id, ids))
        model_started = time.time()
        try:
            results = self.engine.describe_many([video for _, video in batch], self._on_progress)
        except Exception as exc:  # the jobs fail; the worker takes the next ones
            self._fail_all([each for each, _ in batch], exc)
            return
        finally:
            self.on_model, self.progress = (), None
        model_finished = time.time()
        for (each, video), result in zip(batch, results, strict=True):
            log.info(
                "analysed in %.2f s (decode %.2f s, model %.2f s, %d video(s) per model call)",
                each.prepare_s + model_finished - model_started,
                each.prepare_s,
                model_finished - model_started,
                len(batch),
                extra={"job_id": each.job.id},
            )
            keyframes = tuple(video.keyframes)
            result_json = result.model_dump(mode="json")
            prints = None if video.fingerprints is None else video.fingerprints.to_json()
            self.send(
                JobDone(each.job.id, result_json, model_started, model_finished, keyframes, prints)
            )

    def _fail_all(self, batch: list[Prepared], exc: Exception) -> None:
        for each in batch:
            if isinstance(exc, AnalyzerError):
                self.send(JobFailed(each.job.id, exc.code, exc.message))
            else:
                log.exception("analysis failed", extra={"job_id": each.job.id})
                message = f"analysis failed: {type(exc).__name__}: {exc}"
                self.send(JobFailed(each.job.id, "analysis_failed", message))

    def _on_progress(self, done: int, total: int) -> None:
        self.progress = Progress(done, total)

    def _maybe_release_memory(self) -> None:
        if not self.release_requested.is_set():
            return
        self.release_requested.clear()
        ok = True
        try:
            gc.collect()
            if self.engine is not None:
                self.engine.release_memory()
        except Exception:  # a failed clean-up must not end the worker
            log.exception("release_memory failed")
            ok = False
        self.send(MemoryReleased(ok))
