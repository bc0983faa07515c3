"""The library across jobs: GET /search and GET /library.csv."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.http.context import Ctx
from api.http.errors import error_docs
from api.http.schemas_search import SearchOut, search_out
from api.library.csv_export import csv_chunks
from api.library.search import search
from api.library.segments import Kind

router = APIRouter()


@router.get(
    "/search",
    summary="Search what was said, shown and described across every finished job",
    response_model=SearchOut,
    responses=error_docs(422),
)
async def search_library(
    ctx: Ctx,
    q: Annotated[
        str,
        Query(
            max_length=500,
            description='FTS5 query: words, prefixes (disc*), phrases ("big sale"), AND OR NOT',
        ),
    ],
    kind: Annotated[Kind | None, Query(description="only hits of this kind")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[
        str | None, Query(max_length=200, description="cursor: next_after of the page before")
    ] = None,
) -> SearchOut:
    page = await run_in_threadpool(
        ctx.store.read, lambda c: search(c, q, kind=kind, limit=limit, after=after)
    )
    return search_out(q, page)


@router.get(
    "/library.csv",
    summary="Every finished job as one CSV row: metrics, summary, transcript, text, source",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "UTF-8, a header row first"}},
)
async def library_csv(ctx: Ctx) -> StreamingResponse:
    # A sync generator: Starlette pulls it in a worker thread, one page of jobs at a time.
    return StreamingResponse(
        csv_chunks(ctx.store.read),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="library.csv"'},
    )
