"""The stages beside the analyzer (shots, OCR, speech, keyframes), loaded once per worker.

A stage never takes the service down: whatever a stage needs that cannot be
loaded (no Tesseract, no cached speech model) turns into a warning carried by every
result, and that stage's field stays null. Only the analyzer decides readiness.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from analyzers.errors import AnalyzerError
from analyzers.output.metrics import SoundMeasures, measure_sound
from analyzers.schema import Shot, TextOverlay, Transcript
from analyzers.stages.asr_model import load_asr
from analyzers.stages.fingerprints import (
    Fingerprints,
    FingerprintUnavailable,
    SoundPrinter,
    frame_hashes,
)
from analyzers.stages.ocr import OcrUnavailable, merge_overlays
from analyzers.stages.ocr_engines import DEFAULT_ENGINE, TextReader, load_reader, read_within
from analyzers.stages.shots import ShotsTimeout, detect_shots, shot_times
from analyzers.stages.speech import SAMPLE_RATE, AudioTrack, audio_track, check_audio
from analyzers.stages.transcriber import Transcriber

logger = logging.getLogger(__name__)

Sampling = Literal["uniform", "shots"]


@dataclass(frozen=True)
class StagesConfig:
    """Which stages run and how; picklable, built from the settings (no defaults on purpose)."""

    #: "shots": detect cuts, at least one frame per shot; "uniform": no shot detection
    sampling: Sampling
    ocr: bool
    ocr_langs: str
    transcribe: bool
    asr_model: str
    keyframes: bool
    #: where Whisper runs: auto, cpu, cuda, cuda:N (as the analyzer's device setting)
    device: str
    #: the analyzer's quantization (the speech model has its own: asr_compute_type)
    quantization: str
    #: CTranslate2 compute type of the speech model; auto: int8 on a CPU, float16 on a GPU
    asr_compute_type: str = "auto"
    #: language code the speech is in; empty: detected
    asr_language: str = ""
    #: add an English translation of speech in another language (multilingual models)
    translate: bool = False
    # Defaults here only so that configs built before these settings existed still build.
    #: the OCR engine: rapidocr (PP-OCR) or tesseract
    ocr_engine: str = DEFAULT_ENGINE
    #: seconds of OCR per video, after which the stage stops with a warning (0: no limit)
    ocr_budget_s: float = 30.0


@dataclass
class Stages:
    """Loaded stage tools and the warnings their loading left (added to every result)."""

    config: StagesConfig
    ocr: TextReader | None = None
    transcriber: Transcriber | None = None
    #: Chromaprint by fpcalc; None when fpcalc is missing (the frames are still hashed)
    sound_printer: SoundPrinter | None = None
    load_warnings: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, config: StagesConfig) -> Stages:
        """Load what the config asks for; a stage that cannot load is skipped with a warning."""
        stages = cls(config)
        if config.ocr:
            try:
                stages.ocr = load_reader(config.ocr_engine, config.ocr_langs, config.device)
            except OcrUnavailable as exc:
                stages._skip("on-screen text (OCR)", str(exc))
        if config.transcribe:
            try:
                asr = load_asr(config.asr_model, config.device, config.asr_compute_type)
                stages.transcriber = Transcriber(asr, config.asr_language, config.translate)
            except AnalyzerError as exc:
                stages._skip("speech transcription", exc.message)
            except (ImportError, OSError, RuntimeError) as exc:
                stages._skip("speech transcription", f"{type(exc).__name__}: {exc}")
        try:
            stages.sound_printer = SoundPrinter.load()
        except FingerprintUnavailable as exc:
            stages._skip("sound fingerprints (same_sound)", str(exc))
        return stages

    def _skip(self, stage: str, reason: str) -> None:
        message = f"{stage} is off for this worker: {reason}"
        logger.warning(message)
        self.load_warnings.append(message)

    def close(self) -> None:
        if self.ocr is not None:
            self.ocr.close()
            self.ocr = None
        self.transcriber = None

    @property
    def wants_shots(self) -> bool:
        """True when the frames are sampled by shots (cut detection runs)."""
        return self.config.sampling == "shots"

    @property
    def wants_audio(self) -> bool:
        """True when a decode pass should keep the audio (Whisper, or the sound's fingerprint)."""
        return self.transcriber is not None or self.sound_printer is not None

    @property
    def wants_large_frames(self) -> bool:
        """True when the sampled frames must be sharper than the model's input (OCR, JPEGs)."""
        return self.ocr is not None or self.config.keyframes

    def find_shots(
        self, path: str | Path, duration_s: float, frames: int, deadline_s: float
    ) -> tuple[list[Shot] | None, list[float] | None, list[str]]:
        """Shots and the times to sample, or (None, None, warnings) for uniform sampling."""
        if not self.wants_shots:
            return None, None, []
        try:
            found = detect_shots(path, duration_s=duration_s, deadline_s=deadline_s)
        except (ShotsTimeout, AnalyzerError) as exc:
            return None, None, [f"shot detection skipped, frames sampled uniformly: {exc}"]
        except Exception as exc:  # a stage never fails the job: the frames are still described
            logger.exception("shot detection failed on %s", path)
            return None, None, [f"shot detection failed, frames sampled uniformly: {exc!r}"]
        return found.shots, shot_times(found.shots, frames), []

    def read_text(
        self, images: list[np.ndarray], timestamps: list[float]
    ) -> tuple[list[TextOverlay] | None, list[str]]:
        """Overlays read on the sampled frames; None when OCR is off or unavailable."""
        if self.ocr is None:
            return None, []
        try:
            read, stopped = read_within(self.ocr, images, timestamps, self.config.ocr_budget_s)
        except Exception as exc:  # a stage never fails the job (tesserocr, OpenCV errors)
            logger.exception("OCR failed")
            return None, [f"on-screen text (OCR) failed on this video: {exc!r}"]
        if stopped is not None:
            logger.warning(stopped)
        return merge_overlays(read), [stopped] if stopped else []

    def decode_audio(self, path: str | Path, has_audio: bool, max_s: float) -> AudioTrack | None:
        """The audio with its speech found, or None (no transcription, no audio stream)."""
        if self.transcriber is None or not has_audio:
            return None
        return check_audio(path, max_s)

    def audio_from(self, samples: np.ndarray | None) -> AudioTrack | None:
        """The audio a single pass decoded, its speech found (None: no audio stream)."""
        if self.transcriber is None or samples is None:
            return None
        return audio_track(samples)

    def transcribe(self, audio: AudioTrack | None) -> tuple[Transcript | None, list[str]]:
        """The transcript; None without speech; a failure is a warning, never an error."""
        if self.transcriber is None or audio is None:
            return None, []
        try:
            return self.transcriber.transcribe(audio), []
        except Exception as exc:  # a stage never fails the job (out of memory, a bad model)
            logger.exception("speech transcription failed")
            return None, [f"speech transcription failed on this video: {exc!r}"]

    def listen(
        self, samples: np.ndarray | None, track: AudioTrack | None
    ) -> tuple[SoundMeasures | None, list[str]]:
        """Loudness and the seconds of speech and music; None without decoded audio."""
        if samples is None:
            return None, []
        try:
            return measure_sound(samples, None if track is None else track.speech, SAMPLE_RATE), []
        except Exception as exc:  # a stage never fails the job
            logger.exception("measuring the sound failed")
            return None, [f"sound metrics failed on this video: {exc!r}"]

    def fingerprint(
        self, samples: np.ndarray | None, images: list[np.ndarray]
    ) -> tuple[Fingerprints | None, list[str]]:
        """The sound's Chromaprint (when fpcalc runs and there is sound) and the frames' dHash."""
        try:
            audio: list[int] = []
            if self.sound_printer is not None and samples is not None:
                audio = self.sound_printer.print(samples, SAMPLE_RATE)
            return Fingerprints(audio, frame_hashes(images)), []
        except Exception as exc:  # a stage never fails the job (fpcalc crashed, timed out)
            logger.exception("fingerprinting failed")
            return None, [f"fingerprints failed on this video: {exc!r}"]
