"""``/health`` (readiness, the document in api/http/health.py) and ``/health/live``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.http.context import Ctx
from api.http.health import health_body
from api.http.schemas import HealthOut, LiveOut

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


@router.get(
    "/health/live", summary="Liveness: 200 while the process answers", response_model=LiveOut
)
async def live() -> LiveOut:
    return LiveOut()
