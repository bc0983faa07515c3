"""Routes the web page needs: the server's limits, the key-checking session, the live list."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from analyzers.aspects import DEFAULT_ASPECTS
from api import __version__
from api.http.context import AppContext, Ctx
from api.http.errors import ApiError, error_docs
from api.http.middleware import SESSION_COOKIE, session_token
from api.http.routes_ops import health_body
from api.http.schemas import ErrorBody, job_out
from api.http.schemas_web import BoardJob, BoardOut, InfoOut, SessionIn, SessionOut
from api.jobs.record import Job

router = APIRouter()

#: a week: the page asks for the key again after that (or after DELETE /session)
SESSION_MAX_AGE_S = 7 * 24 * 3600


@router.get("/info", summary="The server's limits and model (what the web page shows)")
async def info(ctx: Ctx) -> InfoOut:
    health = await run_in_threadpool(health_body, ctx)
    s = ctx.settings
    return InfoOut(
        version=__version__,
        model=health.model,
        backend=health.backend,
        max_upload_bytes=int(s.max_upload_mb * 1024 * 1024),
        max_duration_s=s.max_duration_s,
        max_frames=s.max_frames,
        default_frames=min(s.frames, s.max_frames),
        aspects=list(DEFAULT_ASPECTS),
        queue_size=s.queue_size,
        keyframes=s.keyframes,
    )


@router.get(
    "/session",
    summary="Whether an API key is needed, and whether this browser's session cookie holds it",
)
async def get_session(ctx: Ctx, request: Request) -> SessionOut:
    key = ctx.settings.api_key_if_set
    if key is None:
        return SessionOut(key_required=False, authenticated=True)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    valid = hmac.compare_digest(cookie.encode(), session_token(key).encode())
    return SessionOut(key_required=True, authenticated=valid)


@router.post(
    "/session",
    summary="Check an API key; if right, set an HttpOnly session cookie for the web page",
    responses={
        401: {"model": ErrorBody, "description": "Wrong API key"},
        **error_docs(422),
    },
)
async def post_session(
    ctx: Ctx, body: SessionIn, request: Request, response: Response
) -> SessionOut:
    key = ctx.settings.api_key_if_set
    if key is None:
        return SessionOut(key_required=False, authenticated=True)
    if not hmac.compare_digest(body.api_key.encode(), key.encode()):
        raise ApiError("unauthorized", "wrong API key", status=401)
    # The cookie holds a value derived from the key, never the key; Strict keeps it off
    # requests other sites start, HttpOnly keeps it from scripts.
    response.set_cookie(
        SESSION_COOKIE,
        session_token(key),
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return SessionOut(key_required=True, authenticated=True)


@router.delete("/session", summary="Forget this browser's session cookie")
async def delete_session(ctx: Ctx, response: Response) -> SessionOut:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    key_required = ctx.settings.api_key_if_set is not None
    return SessionOut(key_required=key_required, authenticated=not key_required)


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
    positions = ctx.pool.queue_positions()
    snap = ctx.pool.snapshot()
    return BoardOut(
        jobs=[_board_job(ctx, job, positions.get(job.id)) for job in jobs],
        total=total,
        queue_depth=snap["queue_depth"],
        busy_workers=snap["busy_workers"],
    )


def _board_job(ctx: AppContext, job: Job, position: int | None) -> BoardJob:
    out = job_out(job, with_result=False, progress=ctx.pool.progress(job.id))
    rtf = None
    if job.status == "done" and out.timings.run_s is not None and job.duration_s > 0:
        rtf = round(out.timings.run_s / job.duration_s, 3)
    return BoardJob(**out.model_dump(), queue_position=position, realtime_factor=rtf)
