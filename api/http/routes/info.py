"""``/info``: the server's limits, aspects and model, for a client to show before uploading."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from yt_dlp.version import __version__ as yt_dlp_version

from analyzers.aspects import DEFAULT_ASPECTS
from analyzers.stages.asr_model import resolve_asr_model
from analyzers.stages.ocr_engines import ENGINE_MODELS
from api import __version__
from api.http.context import Ctx
from api.http.health import health_body
from api.http.schemas_web import InfoOut

router = APIRouter()


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
        asr_model=resolve_asr_model(s.asr_model) if s.transcribe else None,
        ocr_engine=f"{s.ocr_engine}: {ENGINE_MODELS[s.ocr_engine]}" if s.ocr else None,
        link_sites=list(s.link_site_names()),
        yt_dlp_version=yt_dlp_version,
    )
