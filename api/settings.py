"""All settings, from CLI flags, ``TIKTOK_ANALYZER_*`` variables or an env file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from analyzers.base import AnalyzerConfig
from analyzers.media.bounded_probe import ProbeBudget
from analyzers.media.limits import MediaLimits
from analyzers.media.sampling import Decoder, Seek
from analyzers.options import AnalysisOptions
from analyzers.schema import Quantization
from analyzers.stages.loaded import StagesConfig
from analyzers.stages.ocr_engines import DEFAULT_ENGINE, OcrEngine
from api.jobs.webhook_signing import secret_key
from api.links.sites import DEFAULT_SITES, parse_sites

#: CTranslate2 compute types the speech model may run in
AsrComputeType = Literal[
    "auto", "int8", "int8_float16", "int8_float32", "int8_bfloat16", "float16", "bfloat16",
    "float32",
]  # fmt: skip


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
    asr_model: str = Field(
        "small", description="faster-whisper size name, CTranslate2 hub id or local directory"
    )
    asr_compute_type: AsrComputeType = Field(
        "auto", description="speech model's CTranslate2 type; auto: int8 on a CPU, float16 on a GPU"
    )
    asr_language: str = Field("", description="language code the speech is in; empty: detected")
    translate: bool = Field(
        False, description="add an English translation of speech in another language"
    )
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
    allowed_hosts: str = Field(
        "", description="Host headers accepted, comma-separated; empty = the defaults; * = any"
    )
    session_idle_s: float = Field(43200.0, gt=0, description="an unused web session ends")
    session_max_age_s: float = Field(604800.0, gt=0, description="a web session's longest life")
    auth_max_failures: int = Field(
        10, ge=1, description="wrong API keys one client address may send a minute; then 429"
    )
    url_timeout_s: float = Field(120.0, gt=0, description="time a video link may take to download")
    url_allow_private: bool = Field(
        False, description="video links and callbacks may reach loopback and private addresses"
    )
    link_sites: str = Field(
        ",".join(DEFAULT_SITES),
        description="sites whose page links are accepted (tiktok, instagram, youtube, generic)",
    )
    callback_timeout_s: float = Field(10.0, gt=0, description="one callback delivery attempt")
    callback_backoff_s: float = Field(
        2.0, gt=0, description="first wait before a failed callback is retried (doubles)"
    )
    callback_retry_s: float = Field(
        3600.0, ge=0, description="callbacks are retried for this long after the job ended"
    )
    max_streams: int = Field(32, ge=1, description="streams a file may hold; more get 422")
    max_frame_side: int = Field(8192, ge=16, description="pixels per frame side; more get 422")
    max_frame_pixels: int = Field(
        8192 * 4320, ge=256, description="pixels per frame (8K UHD fits); more get 422"
    )
    probe_memory_mb: int = Field(
        1024, ge=256, description="address space of the child process reading an upload's headers"
    )
    probe_timeout_s: float = Field(30.0, gt=0, description="time the header probe may take")
    callback_secret: SecretStr | None = Field(
        None,
        description="whsec_<base64> key signing callbacks (Standard Webhooks); unset = unsigned",
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

    @field_validator("link_sites")
    @classmethod
    def _known_link_sites(cls, value: str) -> str:
        return ",".join(parse_sites(value))

    def link_site_names(self) -> tuple[str, ...]:
        return tuple(s for s in self.link_sites.split(",") if s)

    @field_validator("callback_secret")
    @classmethod
    def _valid_callback_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # A malformed secret stops the start: callbacks signed with a wrong key would all fail.
        if value is not None and value.get_secret_value():
            secret_key(value.get_secret_value())
            return value
        return None

    def media_limits(self) -> MediaLimits:
        return MediaLimits(self.max_streams, self.max_frame_side, self.max_frame_pixels)

    def probe_budget(self) -> ProbeBudget:
        return ProbeBudget(self.probe_memory_mb, self.probe_timeout_s)

    def callback_key(self) -> bytes | None:
        """The HMAC key signing callbacks, or None when they go unsigned."""
        secret = self.callback_secret
        return secret_key(secret.get_secret_value()) if secret is not None else None

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
            asr_compute_type=self.asr_compute_type,
            asr_language=self.asr_language.strip().lower(),
            translate=self.translate,
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
