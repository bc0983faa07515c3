"""``/metrics``: the Prometheus text of the service's metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.http.context import Ctx

router = APIRouter()


@router.get(
    "/metrics",
    summary="Prometheus metrics (tiktok_analyzer_*)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(ctx: Ctx) -> Response:
    m = ctx.metrics
    return Response(m.render(), media_type=m.content_type)
