"""HTTP routes for the work itself: POST /analyze and the /jobs resource."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as FastPath
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from starlette.requests import ClientDisconnect

from analyzers.aspects import DEFAULT_ASPECTS
from analyzers.errors import AnalyzerError, InvalidOptionError
from analyzers.output.exports import MEDIA_TYPES, ExportFormat, export
from analyzers.schema import AnalysisResult
from api.errors import (
    FrameNotFoundError,
    JobNotFoundError,
    NotCancellableError,
    NotDoneError,
    QueueFullError,
    shorten,
)
from api.http.context import AppContext, Ctx
from api.http.errors import error_docs, error_response, status_for
from api.http.schemas import JobOut, JobPage, job_out
from api.jobs.intake import RequestOptions
from api.jobs.record import JobStatus

router = APIRouter()
log = logging.getLogger("api.http")

#: status recorded when the client went away mid-upload (nobody receives it; nginx's code)
CLIENT_CLOSED_REQUEST = 499

_OPTION_FIELDS: dict[str, Any] = {
    "frames": {"type": "integer", "minimum": 1, "description": "frames to sample"},
    "aspects": {
        "type": "string",
        "description": "comma-separated, from: " + ", ".join(DEFAULT_ASPECTS),
    },
    "wait": {"type": "boolean", "default": True},
    "callback_url": {
        "type": "string",
        "maxLength": 2048,
        "description": "POSTed the job's status and links when it ends",
    },
}
_ANALYZE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the video"},
                        **_OPTION_FIELDS,
                    },
                },
                "example": {"frames": 8, "aspects": "scene,mood", "wait": True},
            },
            # A link instead of a file (also accepted as a multipart field or a query parameter).
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["url"],
                    "properties": {
                        "url": {
                            "type": "string",
                            "maxLength": 2048,
                            "description": "a direct http(s) link to a video file",
                        },
                        **_OPTION_FIELDS,
                    },
                },
            },
        },
    }
}


@router.post(
    "/analyze",
    summary="Analyse one video",
    response_model=JobOut,
    status_code=200,
    responses={
        202: {
            "model": JobOut,
            "description": "Accepted; poll the Location (wait=false or wait limit)",
        },
        **error_docs(400, 409, 413, 415, 422, 500, 502, 503, 504, 507),
    },
    openapi_extra=_ANALYZE_BODY,
)
async def analyze(
    ctx: Ctx,
    request: Request,
    frames: Annotated[
        int | None, Query(ge=1, description="frames to sample (form field also accepted)")
    ] = None,
    aspects: Annotated[
        str | None,
        Query(
            description="comma-separated aspects (form field also accepted), from: "
            + ", ".join(DEFAULT_ASPECTS),
            examples=["scene,mood"],
        ),
    ] = None,
    wait: Annotated[bool | None, Query(description="wait for the result (default true)")] = None,
    url: Annotated[
        str | None,
        Query(
            max_length=2048,
            description="instead of a file: a direct http(s) link to a video file "
            "(form field also accepted)",
        ),
    ] = None,
    callback_url: Annotated[
        str | None,
        Query(
            max_length=2048,
            description="POSTed the job's status and links when it ends (form field also accepted)",
        ),
    ] = None,
) -> Response:
    """Upload a video as multipart field `file`, or give `url`; options as form fields or query
    parameters.

    With wait=true (default) the reply is 200 with the job and its result, or the
    job's error status if it failed; past the wait limit 202 and the job to poll.
    """
    try:
        ctx.pool.check_admission()
        submission = await ctx.intake.receive(
            request.headers,
            request.stream(),
            RequestOptions(frames, aspects, wait, url, callback_url),
        )
    except AnalyzerError as exc:
        ctx.metrics.rejected.labels(exc.code).inc()
        raise
    except ClientDisconnect:
        # The client's doing, not ours: no error log, no 500 in the metrics.
        log.info("client disconnected during the upload")
        ctx.metrics.rejected.labels("client_disconnected").inc()
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    job = submission.job
    event = ctx.waiters.register(job.id) if submission.wait else None
    try:
        await run_in_threadpool(ctx.pool.submit, job)
    except BaseException as exc:
        if event is not None:
            ctx.waiters.unregister(job.id, event)
        ctx.intake.files.remove(job.upload)
        if isinstance(exc, QueueFullError):
            ctx.metrics.rejected.labels(exc.code).inc()
        raise
    if event is not None:
        try:
            await asyncio.wait_for(event.wait(), ctx.settings.wait_timeout_s)
        except asyncio.TimeoutError:
            pass  # 202 below: the client polls
        finally:
            ctx.waiters.unregister(job.id, event)
    # wait=false answers 202 even when the job was quick enough to end first: the client
    # asked for a job to poll, and a reply that depended on that race would surprise it.
    return await run_in_threadpool(_job_reply, ctx, job.id, not submission.wait)


def _retry_after(ctx: AppContext) -> dict[str, str]:
    return {"Retry-After": str(ctx.pool.retry_after_s())}


def _job_reply(ctx: AppContext, job_id: str, accepted: bool = False) -> Response:
    job = ctx.store.get(job_id)
    if job is None:  # only if the database was replaced under us
        raise JobNotFoundError(f"no job {job_id}")
    body = job_out(job, progress=ctx.pool.progress(job.id)).model_dump(mode="json")
    if accepted:
        pass  # 202 below, whatever the job has come to
    elif job.status == "done":
        return JSONResponse(body, status_code=200)
    elif job.status in ("failed", "cancelled"):
        code = job.error_code or "analysis_failed"
        return error_response(status_for(code), code, job.error_message or code, job_id=job.id)
    headers = {"Location": f"/jobs/{job.id}", **_retry_after(ctx)}
    return JSONResponse(body, status_code=202, headers=headers)


@router.get(
    "/jobs/{job_id}",
    summary="One job: status, progress, result or error, timings",
    response_model=JobOut,
    responses=error_docs(404),
)
async def get_job(ctx: Ctx, job_id: str) -> JobOut:
    job = await run_in_threadpool(ctx.store.get, job_id)
    if job is None:
        raise JobNotFoundError(f"no job {shorten(job_id)}")
    return job_out(job, progress=ctx.pool.progress(job.id))


@router.get(
    "/jobs",
    summary="Recent jobs, newest first (paginated)",
    response_model=JobPage,
    responses=error_docs(422),
)
async def list_jobs(
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    after: Annotated[
        str | None,
        Query(max_length=64, description="cursor: the jobs older than this job id (next_after)"),
    ] = None,
    status: Annotated[JobStatus | None, Query(description="only jobs in this state")] = None,
) -> JobPage:
    try:
        jobs, total = await run_in_threadpool(
            lambda: ctx.store.page(
                limit=limit, offset=offset, status=status, after=after, with_result=False
            )
        )
    except KeyError:
        raise InvalidOptionError(f"after: no job {shorten(after or '')}") from None
    following = offset + len(jobs)
    full = len(jobs) == limit
    return JobPage(
        jobs=[job_out(j, with_result=False) for j in jobs],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=following if after is None and following < total else None,
        next_after=jobs[-1].id if jobs and full else None,
    )


@router.delete(
    "/jobs/{job_id}",
    summary="Cancel a queued job",
    response_model=JobOut,
    responses=error_docs(404, 409, 507),
)
async def cancel_job(ctx: Ctx, job_id: str) -> Any:
    if not await run_in_threadpool(ctx.pool.cancel, job_id):
        job = await run_in_threadpool(ctx.store.get, job_id)
        if job is None:
            raise JobNotFoundError(f"no job {shorten(job_id)}")
        raise NotCancellableError(
            f"the job is {job.status}; only a queued job can be cancelled", job_id
        )
    job = await run_in_threadpool(ctx.store.get, job_id)
    assert job is not None
    return job_out(job)


@router.get(
    "/jobs/{job_id}/frames/{n}",
    summary="The keyframe JPEG of described frame n (counting from 0)",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "the frame, about 360 px high"},
        **error_docs(404),
    },
)
async def get_frame(
    ctx: Ctx, job_id: str, n: Annotated[int, FastPath(ge=0, le=10_000)]
) -> FileResponse:
    job = await run_in_threadpool(ctx.store.get, job_id)
    path = ctx.keyframes.path(job_id, n) if job is not None else None
    if path is None:
        raise FrameNotFoundError(f"no keyframe {n} for job {shorten(job_id)}")
    # Keyframes never change once written: let the browser keep them.
    return FileResponse(
        path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
    )


@router.get(
    "/jobs/{job_id}/export",
    summary="The result as a Markdown report, SRT or WebVTT subtitles, or JSON",
    response_class=Response,
    responses={
        200: {
            "content": {
                media: {
                    "schema": {"$ref": "#/components/schemas/AnalysisResult"}
                    if fmt == "json"
                    else {"type": "string"}
                }
                for fmt, media in MEDIA_TYPES.items()
            },
            "description": "subtitles carry the transcript, overlays and aspects as cues",
        },
        **error_docs(404, 409, 422),
    },
)
async def export_job(
    ctx: Ctx,
    job_id: str,
    format: Annotated[ExportFormat, Query()] = "md",  # noqa: A002
) -> Response:
    job = await run_in_threadpool(ctx.store.get, job_id)
    if job is None:
        raise JobNotFoundError(f"no job {shorten(job_id)}")
    if job.status != "done" or job.result is None:
        raise NotDoneError(f"the job is {job.status}; only a finished job has a result to export")
    text = export(AnalysisResult.model_validate(job.result), format)
    name = f"{Path(job.filename or job.id).stem}.{format}"
    return Response(
        text,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{_ascii(name)}"'},
    )


def _ascii(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
