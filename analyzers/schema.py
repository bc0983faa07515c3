"""The result of one analysis: what the CLI prints as JSON and the API returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Orientation = Literal["vertical", "horizontal", "square"]
Quantization = Literal["int8", "fp16", "bf16", "fp32"]

#: stands in for an answer the model left empty, so clients never see ""
EMPTY_ANSWER = "(no answer)"


class VideoInfo(BaseModel):
    """What probing the file found, plus the decoder that served the frames."""

    duration_s: float
    fps: float
    frame_count: int
    width: int = Field(description="width as displayed, after rotation")
    height: int = Field(description="height as displayed, after rotation")
    orientation: Orientation
    codec: str
    has_audio: bool
    rotation: int = Field(0, description="rotation metadata in degrees (0, 90, 180, 270)")
    stream_index: int = Field(0, description="container index of the video stream analysed")
    decoder: str = Field("", description="decord or pyav")


class ModelInfo(BaseModel):
    name: str
    analyzer: str = "blip2"
    quantization: Quantization
    device: str
    test_model: bool = Field(False, description="true for the random-weight test model")
    experimental: bool = Field(
        default=False,
        description="true for an experimental analyzer (video-llm); its output may change",
    )


class FrameDescription(BaseModel):
    timestamp_s: float
    caption: str
    aspects: dict[str, str] = Field(default_factory=dict)
    shot: int | None = Field(default=None, description="index of the shot the frame belongs to")
    image: str | None = Field(
        default=None, description="where the frame's keyframe JPEG is: a URL, a file, or its index"
    )


class Shot(BaseModel):
    """One stretch of the video between two cuts."""

    index: int
    start_s: float
    end_s: float


class TextOverlay(BaseModel):
    """Text read on screen (OCR), merged over the consecutive frames that show it."""

    text: str
    start_s: float
    end_s: float
    confidence: float = Field(description="mean Tesseract word confidence, 0 to 1")


class TranscriptWord(BaseModel):
    """One spoken word and when it was said, in video time."""

    text: str
    start_s: float
    end_s: float
    probability: float = Field(description="Whisper's confidence in the word, 0 to 1")


class TranscriptSegment(BaseModel):
    start_s: float
    end_s: float
    text: str
    words: list[TranscriptWord] = Field(
        default_factory=list, description="the segment's words with their times"
    )


class Transcript(BaseModel):
    """What is said, as Whisper heard it."""

    language: str = Field(description="detected (or forced) language code, e.g. en")
    language_probability: float | None = Field(
        default=None, description="how sure the language detection was, 0 to 1 (1 when forced)"
    )
    text: str
    segments: list[TranscriptSegment] = Field(default_factory=list)
    translation: str | None = Field(
        default=None,
        description="English translation, with TIKTOK_ANALYZER_TRANSLATE on speech in another "
        "language and a multilingual model; null otherwise",
    )


class AspectAnswer(BaseModel):
    """One distinct answer for an aspect, with where in the video it holds."""

    text: str
    frames: int = Field(description="how many sampled frames gave this answer")
    time_ranges: list[tuple[float, float]] = Field(
        default_factory=list, description="[start_s, end_s] spans of consecutive frames"
    )


class Timings(BaseModel):
    decode_s: float
    inference_s: float
    total_s: float
    realtime_factor: float = Field(
        description="total_s / duration_s; below 1 is faster than real time"
    )
    stages_s: dict[str, float] = Field(
        default_factory=dict, description="seconds spent in each stage (shots, ocr, speech ...)"
    )


class Music(BaseModel):
    """The sound a post uses, as its platform names it."""

    title: str | None = None
    artist: str | None = None


class Source(BaseModel):
    """Where a linked video came from and what its page says; null fields: the site gave none."""

    url: str = Field(description="the link as given, its secrets masked")
    site: str | None = Field(default=None, description="link_sites name (tiktok, instagram ...)")
    id: str | None = None
    title: str | None = None
    description: str | None = Field(default=None, description="the creator's caption")
    hashtags: list[str] | None = Field(default=None, description="without '#'")
    uploader: str | None = None
    upload_date: str | None = Field(default=None, description="YYYY-MM-DD")
    duration_s: float | None = None
    view_count: int | None = None
    like_count: int | None = None
    comment_count: int | None = None
    music: Music | None = None


class Hook(BaseModel):
    """What happens in the first seconds of the video (the metrics' HOOK_S, 3 s)."""

    words: str | None = Field(description="words said; null when transcription did not run")
    text: str | None = Field(description="on-screen text shown; null when OCR did not run")
    cuts: int | None = Field(description="cuts; null when shot detection did not run")


class Metrics(BaseModel):
    """Creative metrics of the whole video; each null where its stage did not run."""

    cuts_per_minute: float | None = Field(description="cuts per minute of video")
    mean_shot_s: float | None = Field(description="mean shot length, seconds")
    first_cut_s: float | None = Field(description="time of the first cut, s; null: no cut")
    speech_share: float | None = Field(description="share of the duration with speech, 0-1")
    first_word_s: float | None = Field(description="start of the first word, s; null: none")
    words_per_minute: float | None = Field(description="words per minute of speech")
    text_share: float | None = Field(description="share of the duration with on-screen text")
    music_share: float | None = Field(description="share of the duration with sound not speech")
    loudness_lufs: float | None = Field(description="integrated loudness (EBU R128), LUFS")
    motion: float | None = Field(description="mean change between frames, 0-255")
    hook: Hook


#: bumped whenever a field of AnalysisResult changes meaning or goes away
RESULT_SCHEMA_VERSION = 2


class AnalysisResult(BaseModel):
    schema_version: int = Field(
        default=RESULT_SCHEMA_VERSION,
        description="version of this result's layout, so clients can tell releases apart",
    )
    video: VideoInfo
    model: ModelInfo
    frames: list[FrameDescription]
    aspects: dict[str, list[AspectAnswer]]
    summary: str
    timings: Timings
    warnings: list[str] = Field(default_factory=list)
    shots: list[Shot] | None = Field(
        default=None, description="null when shot detection did not run"
    )
    text_overlays: list[TextOverlay] | None = Field(
        default=None, description="on-screen text (OCR); null when OCR did not run"
    )
    transcript: Transcript | None = Field(
        default=None,
        description="speech; null without audio, without speech, or when ASR did not run",
    )
    source: Source | None = Field(
        default=None, description="the link and its page's information; null for an upload"
    )
    metrics: Metrics | None = Field(
        default=None, description="creative metrics; null for results made before they existed"
    )
