"""GET /jobs/{id}/similar: the library's videos with the same sound or the same pictures."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.errors import JobNotFoundError, shorten
from api.http.context import Ctx
from api.http.errors import error_docs

router = APIRouter()


class SimilarOut(BaseModel):
    """One similar job."""

    job_id: str
    reason: Literal["same_sound", "same_video"] = Field(
        description="same_sound: seconds of the same audio; same_video: the frames match in order"
    )
    score: float = Field(description="share of the shorter video that matched, 0 to 1")


class SimilarPage(BaseModel):
    """The similar jobs, best first."""

    similar: list[SimilarOut]


@router.get(
    "/jobs/{job_id}/similar",
    summary="Jobs with the same sound or the same video (a re-upload)",
    response_model=SimilarPage,
    responses=error_docs(404),
)
async def similar_jobs(ctx: Ctx, job_id: str) -> SimilarPage:
    if await run_in_threadpool(ctx.store.get, job_id) is None:
        raise JobNotFoundError(f"no job {shorten(job_id)}")
    found = await run_in_threadpool(ctx.store.similar_jobs, job_id)
    return SimilarPage(
        similar=[SimilarOut(job_id=s.job_id, reason=s.reason, score=s.score) for s in found]
    )
