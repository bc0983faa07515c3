"""All settings, from CLI flags, ``TIKTOK_ANALYZER_*`` variables or an env file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from analyzers.base import AnalyzerConfig
from analyzers.media.sampling import Decoder, Seek
from analyzers.options import AnalysisOptions
from analyzers.schema import Quantization
from analyzers.stages.loaded import StagesConfig
from analyzers.stages.ocr_engines import DEFAULT_ENGINE, OcrEngine


class Settings(BaseSettings):
    """Built once at the entry point and passed down; workers receive it pickled."""

    model_config = SettingsConfigDict(
        env_prefix="TIKTOK_ANALYZER_",
        env_file=None,  # the entry point passes _env_file when one is asked for
        extra="ignore",
        protected_namespaces=(),
    )

    # --- model -----------------------------------------------------------------
    analyzer: str = "blip2"
    model: str = "Salesforce/blip2-opt-2.7b"
    quantization: Quantization = "int8"
    device: str = Field("auto", description="auto (first GPU, else CPU), cpu, cuda, cuda:N")
    batch_size: int = Field(32, ge=1, description="prompts per generate() call")
    max_new_tokens: int = Field(24, ge=1, le=256)
    token_merge_ratio: float = Field(
        1.0, gt=0, le=1.0, description="video-llm: visual tokens kept per frame (1.0 = off)"
    )

    # --- sampling ----------------------------------------------------------------
    frames: int = Field(16, ge=1, description="frames sampled per video by default")
    max_frames: int = Field(64, ge=1, description="upper bound a request may ask for")
    max_duration_s: float = Field(600.0, gt=0, description="longer videos are refused")
    decode_timeout_s: float = Field(120.0, gt=0, description="time one file may take to decode")
    decoder: Decoder = Field("auto", description="auto (PyAV, planned per file), decord or pyav")
    seek: Seek = Field(
        "exact", description="exact frames, or the keyframe nearest each target (faster)"
    )
    sampling: Literal["uniform", "shots"] = Field(
        "shots", description="uniform times, or at least one frame per detected shot"
    )

    # --- stages beside the analyzer (each skipped with a warning when unavailable) --------
    ocr: bool = Field(True, description="read on-screen text (engine: ocr_engine)")
    ocr_langs: str = Field("eng", description="Tesseract languages, e.g. eng+deu")
    ocr_engine: OcrEngine = Field(
        DEFAULT_ENGINE, description="rapidocr (PP-OCR, ONNX) or tesseract (outlined-letter masks)"
    )
    ocr_budget_s: float = Field(
        30.0, ge=0, description="seconds of OCR per video before it stops with a warning; 0: none"
    )
    transcribe: bool = Field(True, description="transcribe speech with Whisper")
    asr_model: str = Field("openai/whisper-small", description="Whisper hub id or local directory")
    keyframes: bool = Field(True, description="keep a small JPEG of each described frame")

    # --- worker pool backend --------------------------------------------------------
    backend: Literal["local", "ray"] = Field(
        "local", description="local: spawned worker processes; ray: Ray actors on a cluster"
    )
    ray_address: str = Field(
        "local", description="ray: auto (join a running cluster), local (private), ray://host:port"
    )
    gpus_per_worker: float = Field(
        -1.0, description="ray: GPUs per actor; -1 = 1 where the cluster has GPUs, else 0"
    )

    # --- server ------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8003
    workers: int = Field(1, ge=1, description="worker processes (CPU only, or total cap)")
    workers_per_gpu: int = Field(1, ge=1)
    data_dir: Path = Path("data")
    log_dir: Path = Path("logs")
    log_level: str = "INFO"
    max_upload_mb: float = Field(500.0, gt=0)
    queue_size: int = Field(64, ge=1, description="jobs waiting; more get 503")
    wait_timeout_s: float = Field(300.0, ge=0, description="how long POST /analyze?wait=true waits")
    job_timeout_s: float = Field(0.0, ge=0, description="fixed per-job limit; 0 = scaled")
    job_timeout_base_s: float = Field(
        120.0, gt=0, description="scaled limit: base + factor x duration"
    )
    job_timeout_factor: float = Field(10.0, gt=0)
    job_retries: int = Field(1, ge=0, description="re-runs of a job whose worker crashed")
    heartbeat_interval_s: float = Field(1.0, gt=0)
    heartbeat_timeout_s: float = Field(30.0, gt=0, description="silent worker counts as hung")
    worker_start_timeout_s: float = Field(600.0, gt=0, description="model loading time allowed")
    drain_timeout_s: float = Field(60.0, ge=0, description="SIGTERM: time running jobs may finish")
    job_retention_days: float = Field(
        30.0, ge=0, description="finished jobs, results and keyframes older than this go; 0 = keep"
    )
    api_key: SecretStr | None = None
    url_timeout_s: float = Field(120.0, gt=0, description="time a video link may take to download")
    url_allow_private: bool = Field(
        False, description="video links and callbacks may reach loopback and private addresses"
    )
    callback_timeout_s: float = Field(10.0, gt=0, description="one callback delivery attempt")
    callback_backoff_s: float = Field(
        2.0, gt=0, description="first wait before a failed callback is retried (doubles)"
    )
    callback_retry_s: float = Field(
        3600.0, ge=0, description="callbacks are retried for this long after the job ended"
    )
    public_url: str = Field(
        "", description="base of the links sent in callbacks; empty = http://HOST:PORT"
    )
    prefetch: bool = Field(
        True, description="decode the next job while the model runs the current one"
    )
    batch_videos: int = Field(
        1,
        ge=1,
        le=16,
        description="videos decoded ahead per worker whose prompts share model calls",
    )

    def analyzer_config(self, device: str | None = None) -> AnalyzerConfig:
        return AnalyzerConfig(
            model=self.model,
            quantization=self.quantization,
            device=device or self.device,
            batch_size=self.batch_size,
            max_new_tokens=self.max_new_tokens,
            token_merge_ratio=self.token_merge_ratio,
        )

    def stages_config(self, *, keyframes: bool) -> StagesConfig:
        """The stages beside the analyzer; keyframe JPEGs only when the caller keeps them."""
        return StagesConfig(
            sampling=self.sampling,
            ocr=self.ocr,
            ocr_langs=self.ocr_langs,
            ocr_engine=self.ocr_engine,
            ocr_budget_s=self.ocr_budget_s,
            transcribe=self.transcribe,
            asr_model=self.asr_model,
            keyframes=keyframes and self.keyframes,
            device=self.device,
            quantization=self.quantization,
        )

    def analysis_options(
        self, frames: int | None = None, aspects: str | Sequence[str] | None = None
    ) -> AnalysisOptions:
        """Validated per-video options: a request's choices on top of these defaults."""
        return AnalysisOptions.create(
            frames=self.frames if frames is None else frames,
            aspects=aspects,
            max_frames=self.max_frames,
            decoder=self.decoder,
            decode_timeout_s=self.decode_timeout_s,
            max_duration_s=self.max_duration_s,
            seek=self.seek,
        )

    def job_timeout_for(self, duration_s: float) -> float:
        """Per-job limit: fixed when set, else scaled to the video's duration."""
        if self.job_timeout_s > 0:
            return self.job_timeout_s
        return self.job_timeout_base_s + self.job_timeout_factor * duration_s

    @property
    def api_key_if_set(self) -> str | None:
        """The key clients must send; None when none is set (an empty key counts as none)."""
        key = self.api_key.get_secret_value() if self.api_key is not None else ""
        return key or None

    @property
    def base_url(self) -> str:
        """Where clients reach the service (the links in callbacks)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @property
    def keyframes_dir(self) -> Path:
        return self.data_dir / "keyframes"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "stable_multiprocess_api.log"


def load_settings(env_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment (and env file), with explicit overrides on top."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(_env_file=env_file, **clean)  # type: ignore[call-arg]
