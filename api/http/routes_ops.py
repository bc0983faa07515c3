"""Operations routes: readiness and liveness, Prometheus metrics, GPU memory release."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api import __version__
from api.http.context import AppContext, Ctx
from api.http.schemas import HealthOut, JobCounts, LiveOut, ModelOut, ReleaseOut, WorkerOut

router = APIRouter()


@router.api_route(
    "/health",
    methods=["GET", "HEAD"],
    summary="Readiness: 200 when a worker can analyse, 503 with a reason otherwise",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Not ready (same body, with reason)"}},
)
async def health(ctx: Ctx) -> JSONResponse:
    body = await run_in_threadpool(health_body, ctx)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if body.ready else 503)


def health_body(ctx: AppContext) -> HealthOut:
    snap = ctx.pool.snapshot()
    unavailable = ctx.pool.model_unavailable()
    workers = snap["workers"]
    loaded = [w for w in workers if w["state"] in ("READY", "BUSY")]
    errors = [w["last_error"] for w in workers if w["last_error"]]
    storage = ctx.pool.storage_error
    ready = bool(loaded) and not snap["draining"] and storage is None
    if snap["draining"]:
        status, reason = "draining", "shutting down: finishing running jobs, accepting none"
    elif storage is not None:
        status, reason = "degraded", f"storage: {storage}; results are kept until it can write"
    elif unavailable is not None:
        status, reason = "degraded", f"model_unavailable: {unavailable}"
    elif not loaded and not snap["ever_ready"] and not errors:
        status, reason = "starting", f"workers are loading the model (0/{len(workers)} ready)"
    elif not loaded:
        status = "degraded"
        reason = "no worker is ready" + (f": {errors[0]}" if errors else " (restarting)")
    elif len(loaded) < len(workers):
        status = "degraded"
        reason = f"{len(loaded)}/{len(workers)} workers ready" + (
            f"; {errors[0]}" if errors else ""
        )
    else:
        status, reason = "ready", None
    return HealthOut(
        status=status,  # type: ignore[arg-type]
        ready=ready,
        reason=reason,
        model=_model_out(ctx, snap["model"]),
        workers=[WorkerOut(**{k: v for k, v in w.items() if k != "last_error"}) for w in workers],
        queue_depth=snap["queue_depth"],
        busy_workers=snap["busy_workers"],
        backend=snap["backend"],
        jobs=JobCounts(**ctx.store.counts()),
        uptime_s=round(time.time() - ctx.started_at, 3),
        version=__version__,
    )


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


@router.get(
    "/health/live", summary="Liveness: 200 while the process answers", response_model=LiveOut
)
async def live() -> LiveOut:
    return LiveOut()


@router.get(
    "/metrics",
    summary="Prometheus metrics (tiktok_analyzer_*)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(ctx: Ctx) -> Response:
    m = ctx.metrics
    return Response(m.render(), media_type=m.content_type)


@router.post(
    "/admin/release-memory",
    summary="Ask idle workers to release cached GPU memory",
    response_model=ReleaseOut,
)
async def release_memory(ctx: Ctx) -> ReleaseOut:
    asked = await run_in_threadpool(ctx.pool.release_memory)
    return ReleaseOut(workers_asked=asked)
