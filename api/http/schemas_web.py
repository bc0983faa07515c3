"""The JSON bodies of the routes the web page uses: /info, /session and /board."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.http.schemas import JobOut, ModelOut


class InfoOut(BaseModel):
    """The server's limits and model, for a client to show before it uploads."""

    version: str
    model: ModelOut
    backend: str
    max_upload_bytes: int = Field(description="uploads larger than this get 413")
    max_duration_s: float = Field(description="longer videos get 422 video_too_long")
    max_frames: int
    default_frames: int
    aspects: list[str] = Field(description="every aspect a request may ask for")
    queue_size: int = Field(description="jobs that may wait; more get 503 queue_full")
    keyframes: bool = Field(description="whether described frames keep a JPEG")
    asr_model: str | None = Field(
        default=None, description="the faster-whisper model that transcribes; null when off"
    )
    ocr_engine: str | None = Field(
        None, description="the on-screen text engine and its models; null when OCR is off"
    )
    link_sites: list[str] = Field(
        default_factory=list, description="sites whose page links are accepted (LINK_SITES)"
    )
    yt_dlp_version: str | None = Field(None, description="the yt-dlp that reads page links")


class SessionIn(BaseModel):
    api_key: str = Field(min_length=1, max_length=4096)


class SessionOut(BaseModel):
    """Whether the server wants a key, and whether this browser's session holds one."""

    key_required: bool
    authenticated: bool


class BoardJob(JobOut):
    """A job as the live list shows it: without its result, with its place in the queue."""

    queue_position: int | None = Field(None, description="1 for the next queued job to start")
    realtime_factor: float | None = Field(
        None, description="run time / video duration once done; below 1 is faster than real time"
    )


class BoardOut(BaseModel):
    """Recent jobs, newest first, with live progress; send If-None-Match for a 304."""

    jobs: list[BoardJob]
    total: int
    queue_depth: int
    busy_workers: int
