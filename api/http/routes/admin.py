"""``/admin/release-memory``: idle workers give cached GPU memory back."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.http.context import Ctx
from api.http.schemas import ReleaseOut

router = APIRouter()


@router.post(
    "/admin/release-memory",
    summary="Ask idle workers to release cached GPU memory",
    response_model=ReleaseOut,
)
async def release_memory(ctx: Ctx) -> ReleaseOut:
    asked = await run_in_threadpool(ctx.pool.release_memory)
    return ReleaseOut(workers_asked=asked)
