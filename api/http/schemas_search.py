"""The JSON body of GET /search."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.library.search import Hit, HitPage
from api.masking import masked_url


class HitOut(BaseModel):
    """One matching segment of one job."""

    job_id: str
    file_name: str | None = Field(description="the upload's name, or the link (masked)")
    kind: str = Field(description="speech, text, visual, summary or source")
    start_s: float | None = Field(description="where in the video; null for summary and source")
    end_s: float | None
    text: str = Field(description="a plain-text snippet around the matches")
    highlights: list[tuple[int, int]] = Field(
        description="[start, end) offsets of the matches in text, in Unicode code points"
    )
    image: str | None = Field(
        description="the described frame nearest the hit, as frames[].image; null where none"
    )


class SearchOut(BaseModel):
    """Hits for a query, best first (BM25)."""

    query: str
    hits: list[HitOut]
    next_after: str | None = Field(
        description="cursor for the next page (?after=); null at the end"
    )


def hit_out(hit: Hit) -> HitOut:
    name = hit.file_name or (masked_url(hit.source_url) if hit.source_url else None)
    return HitOut(
        job_id=hit.job_id,
        file_name=name,
        kind=hit.kind,
        start_s=hit.start_s,
        end_s=hit.end_s,
        text=hit.text,
        highlights=hit.highlights,
        image=hit.image,
    )


def search_out(query: str, page: HitPage) -> SearchOut:
    return SearchOut(query=query, hits=[hit_out(h) for h in page.hits], next_after=page.next_after)
