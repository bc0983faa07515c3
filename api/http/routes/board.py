"""``/board``: recent jobs with live progress and queue positions (the web page polls it)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from fastapi.concurrency import run_in_threadpool

from api.http.context import AppContext, Ctx
from api.http.errors import error_docs
from api.http.schemas import job_out
from api.http.schemas_web import BoardJob, BoardOut
from api.jobs.record import Job

router = APIRouter()


@router.get(
    "/board",
    summary="Recent jobs with live progress and queue positions (ETag: 304 when unchanged)",
    response_model=BoardOut,
    responses={
        304: {"description": "Not modified since the ETag given in If-None-Match"},
        **error_docs(422),
    },
)
async def board(
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=200)] = 30,
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    body = await run_in_threadpool(_board_body, ctx, limit)
    payload = body.model_dump_json().encode()
    etag = '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'
    # no-cache: the browser may keep it but must ask each time (the 304 is the cheap answer)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(payload, media_type="application/json", headers=headers)


def _board_body(ctx: AppContext, limit: int) -> BoardOut:
    jobs, total = ctx.store.page(limit=limit, with_result=False)
    snap = ctx.pool.snapshot()
    return BoardOut(
        jobs=[_board_job(ctx, job, snap.queue_position(job.id)) for job in jobs],
        total=total,
        queue_depth=snap.queue_depth,
        busy_workers=snap.busy_workers,
    )


def _board_job(ctx: AppContext, job: Job, position: int | None) -> BoardJob:
    out = job_out(job, with_result=False, progress=ctx.pool.progress(job.id))
    rtf = None
    if job.status == "done" and out.timings.run_s is not None and job.duration_s > 0:
        rtf = round(out.timings.run_s / job.duration_s, 3)
    return BoardJob(**out.model_dump(), queue_position=position, realtime_factor=rtf)
