"""The one ``/health`` document: built here from the pool's snapshot, read by every route."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from api import __version__
from api.http.context import AppContext
from api.http.schemas import HealthOut, JobCounts, ModelOut, WorkerOut
from api.pool.snapshot import PoolSnapshot


def health_body(ctx: AppContext) -> HealthOut:
    """What ``GET /health`` answers (its ``ready`` decides 200 or 503); ``/info`` reuses it."""
    snap = ctx.pool.snapshot()
    status, reason = _status(snap)
    loaded = any(w.loaded for w in snap.workers)
    return HealthOut(
        status=status,  # type: ignore[arg-type]
        ready=loaded and not snap.draining and snap.storage_error is None,
        reason=reason,
        model=_model_out(ctx, snap.model),
        workers=[
            WorkerOut(
                id=w.id,
                state=w.state,
                device=w.device,
                pid=w.pid,
                node=w.node,
                current_job=w.current_job,
                restarts=w.restarts,
                last_heartbeat_age_s=w.last_heartbeat_age_s,
            )
            for w in snap.workers
        ],
        queue_depth=snap.queue_depth,
        busy_workers=snap.busy_workers,
        backend=snap.backend,  # type: ignore[arg-type]
        jobs=JobCounts(**ctx.store.counts()),
        uptime_s=round(time.time() - ctx.started_at, 3),
        version=__version__,
    )


def _status(snap: PoolSnapshot) -> tuple[str, str | None]:
    """The overall status and, unless ready, the reason in words."""
    workers = snap.workers
    loaded = [w for w in workers if w.loaded]
    errors = [w.last_error for w in workers if w.last_error]
    if snap.draining:
        return "draining", "shutting down: finishing running jobs, accepting none"
    if snap.storage_error is not None:
        return "degraded", f"storage: {snap.storage_error}; results are kept until it can write"
    if snap.model_unavailable is not None:
        return "degraded", f"model_unavailable: {snap.model_unavailable}"
    if not loaded and not snap.ever_ready and not errors:
        return "starting", f"workers are loading the model (0/{len(workers)} ready)"
    if not loaded:
        return "degraded", "no worker is ready" + (f": {errors[0]}" if errors else " (restarting)")
    if len(loaded) < len(workers):
        more = f"; {errors[0]}" if errors else ""
        return "degraded", f"{len(loaded)}/{len(workers)} workers ready{more}"
    return "ready", None


def _model_out(ctx: AppContext, reported: dict[str, Any] | None) -> ModelOut:
    s = ctx.settings
    if reported:
        return ModelOut(
            name=reported.get("name", s.model),
            quantization=reported.get("quantization", s.quantization),
            analyzer=reported.get("analyzer", s.analyzer),
            test_model=bool(reported.get("test_model", False)),
            experimental=bool(reported.get("experimental", False)),
        )
    from analyzers.models.loading import TEST_MODEL_MARKER

    test_model = (Path(s.model) / TEST_MODEL_MARKER).is_file()
    return ModelOut(
        name=s.model, quantization=s.quantization, analyzer=s.analyzer, test_model=test_model
    )
