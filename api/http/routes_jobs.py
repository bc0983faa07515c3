"""HTTP routes for the work itself: POST /analyze and the /jobs resource."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from analyzers.errors import AnalyzerError, InvalidOptionError, QueueFullError, VideoTooLongError
from analyzers.options import AnalysisOptions
from analyzers.probe import probe_video
from api.http_errors import ApiError, error_docs, error_response, status_for
from api.jobs import Job, JobStatus
from api.models import JobOut, JobPage, job_out
from api.uploads import Upload, UploadError, spool_multipart

if TYPE_CHECKING:
    from api.app import AppContext

router = APIRouter()

#: room for the multipart boundaries and text fields around the file itself
MULTIPART_OVERHEAD = 1024 * 1024

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _ctx(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


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
                        "frames": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "frames to sample",
                        },
                        "aspects": {
                            "type": "string",
                            "description": "comma-separated, e.g. scene,people,mood",
                        },
                        "wait": {"type": "boolean", "default": True},
                    },
                }
            }
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
        **error_docs(400, 409, 413, 415, 422, 500, 502, 503, 504),
    },
    openapi_extra=_ANALYZE_BODY,
)
async def analyze(
    request: Request,
    frames: Annotated[
        int | None, Query(description="frames to sample (form field also accepted)")
    ] = None,
    aspects: Annotated[
        str | None, Query(description="comma-separated aspects (form field also accepted)")
    ] = None,
    wait: Annotated[bool | None, Query(description="wait for the result (default true)")] = None,
) -> Response:
    """Upload a video as multipart field `file`; options as form fields or query parameters.

    With wait=true (default) the reply is 200 with the job and its result, or the
    job's error status if it failed; past the wait limit 202 and the job to poll.
    """
    ctx = _ctx(request)
    _refuse_if_busy(ctx)
    upload = await _receive(ctx, request)
    job: Job | None = None
    event: asyncio.Event | None = None
    try:
        job, do_wait = await _make_job(ctx, upload, frames, aspects, wait)
        event = ctx.waiters.register(job.id) if do_wait else None
        await run_in_threadpool(ctx.supervisor.submit, job)
    except BaseException as exc:
        if job is not None and event is not None:
            ctx.waiters.unregister(job.id, event)
        if upload.path is not None:
            upload.path.unlink(missing_ok=True)
        if isinstance(exc, QueueFullError):
            retry = str(ctx.supervisor.retry_after_s())
            ctx.metrics.rejected.labels(exc.code).inc()
            raise ApiError(exc.code, exc.message, headers={"Retry-After": retry}) from None
        if isinstance(exc, (ApiError, AnalyzerError)):
            ctx.metrics.rejected.labels(exc.code).inc()
        raise
    if event is not None:
        try:
            await asyncio.wait_for(event.wait(), ctx.settings.wait_timeout_s)
        except asyncio.TimeoutError:
            pass  # 202 below: the client polls
        finally:
            ctx.waiters.unregister(job.id, event)
    return await run_in_threadpool(_job_reply, ctx, job.id)


async def _receive(ctx: AppContext, request: Request) -> Upload:
    """Spool the body to disk; 413 from Content-Length alone when it already says too big."""
    limit = int(ctx.settings.max_upload_mb * 1024 * 1024)
    declared = request.headers.get("content-length", "")
    try:
        if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            raise UploadError(
                413,
                "upload_too_large",
                f"the file is larger than the {ctx.settings.max_upload_mb:g} MB upload limit",
            )
        return await spool_multipart(
            request.headers.get("content-type", ""),
            request.stream(),
            ctx.settings.uploads_dir,
            limit,
        )
    except UploadError as exc:
        ctx.metrics.rejected.labels(exc.code).inc()
        raise ApiError(exc.code, exc.message, status=exc.status) from None


async def _make_job(
    ctx: AppContext,
    upload: Upload,
    frames: int | None,
    aspects: str | None,
    wait: bool | None,
) -> tuple[Job, bool]:
    """Validate options and probe the file in this process, so bad input never queues."""
    path = upload.path
    if path is None:
        raise ApiError("missing_file", "no file: send the video in the form field 'file'")
    options = _options(ctx, upload.fields, frames, aspects)
    do_wait = _flag(upload.fields.get("wait"), wait, default=True)
    info = await run_in_threadpool(probe_video, path)
    if info.duration_s > ctx.settings.max_duration_s:
        raise VideoTooLongError(
            f"the video is {info.duration_s:.1f} s long; the limit is "
            f"{ctx.settings.max_duration_s:g} s"
        )
    job = Job(
        id=path.name,
        status="queued",
        created_at=time.time(),
        upload_path=str(path.resolve()),
        frames=options.frames,
        aspects=options.aspects,
        filename=upload.filename,
        size_bytes=upload.size,
        duration_s=info.duration_s,
    )
    return job, do_wait


def _refuse_if_busy(ctx: AppContext) -> None:
    if ctx.supervisor.draining:
        raise ApiError(
            "draining",
            "the service is shutting down; retry in a few seconds",
            headers={"Retry-After": "10"},
        )
    if ctx.supervisor.queue_full():
        retry = str(ctx.supervisor.retry_after_s())
        raise ApiError(
            "queue_full",
            f"the queue is full ({ctx.settings.queue_size} videos waiting); retry in {retry} s",
            headers={"Retry-After": retry},
        )


def _options(
    ctx: AppContext, fields: dict[str, str], frames: int | None, aspects: str | None
) -> AnalysisOptions:
    raw_frames = fields.get("frames")
    if raw_frames is not None:
        try:
            frames = int(raw_frames.strip())
        except ValueError:
            raise InvalidOptionError(f"frames must be a whole number, got {raw_frames!r}") from None
    aspect_text = fields.get("aspects", aspects)
    return ctx.settings.analysis_options(frames, aspect_text)


def _flag(raw: str | None, query: bool | None, *, default: bool) -> bool:
    if raw is None:
        return default if query is None else query
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidOptionError(f"wait must be true or false, got {raw!r}")


def _job_reply(ctx: AppContext, job_id: str) -> Response:
    job = ctx.store.get(job_id)
    if job is None:  # only if the database was replaced under us
        raise ApiError("job_not_found", f"no job {job_id}")
    body = job_out(job).model_dump(mode="json")
    if job.status == "done":
        return JSONResponse(body, status_code=200)
    if job.status in ("failed", "cancelled"):
        code = job.error_code or "analysis_failed"
        return error_response(status_for(code), code, job.error_message or code, job_id=job.id)
    return JSONResponse(body, status_code=202, headers={"Location": f"/jobs/{job.id}"})


@router.get(
    "/jobs/{job_id}",
    summary="One job: status, result or error, timings",
    response_model=JobOut,
    responses=error_docs(404),
)
async def get_job(request: Request, job_id: str) -> JobOut:
    job = await run_in_threadpool(_ctx(request).store.get, job_id)
    if job is None:
        raise ApiError("job_not_found", f"no job {job_id}")
    return job_out(job)


@router.get("/jobs", summary="Recent jobs, newest first (paginated)", response_model=JobPage)
async def list_jobs(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    status: Annotated[JobStatus | None, Query(description="only jobs in this state")] = None,
) -> JobPage:
    jobs, total = await run_in_threadpool(
        lambda: _ctx(request).store.page(limit=limit, offset=offset, status=status)
    )
    following = offset + len(jobs)
    return JobPage(
        jobs=[job_out(j, with_result=False) for j in jobs],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=following if following < total else None,
    )


@router.delete(
    "/jobs/{job_id}",
    summary="Cancel a queued job",
    response_model=JobOut,
    responses=error_docs(404, 409),
)
async def cancel_job(request: Request, job_id: str) -> JobOut:
    ctx = _ctx(request)
    if not await run_in_threadpool(ctx.supervisor.cancel, job_id):
        job = await run_in_threadpool(ctx.store.get, job_id)
        if job is None:
            raise ApiError("job_not_found", f"no job {job_id}")
        raise ApiError(
            "not_cancellable",
            f"the job is {job.status}; only a queued job can be cancelled",
            job_id=job_id,
        )
    job = await run_in_threadpool(ctx.store.get, job_id)
    assert job is not None
    return job_out(job)
