"""Speech: audio decoded with PyAV to 16 kHz mono, where speech is found, Whisper on those parts.

Decoding and the search for speech (short-time energy) are CPU work done in
``prepare``; Whisper runs in ``describe``. Only the parts with sound go to the
model, packed into windows of at most 30 s (Whisper's input length) that never
start mid-word: silence costs nothing, and Whisper cannot invent words in it.
The windows run as one batch; the language is detected once over all of them.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analyzers.errors import InputError, ModelLoadError
from analyzers.media.probe import open_media
from analyzers.media.pyav_demux import demux_packets
from analyzers.media.single_pass import AUDIO_RATE, AudioCollector
from analyzers.models.loading import is_test_model
from analyzers.schema import Transcript, TranscriptSegment

logger = logging.getLogger(__name__)

SAMPLE_RATE = AUDIO_RATE
#: Whisper hears 30 s at a time
WINDOW_S = 30.0
_FRAME_S = 0.02  # energy is measured over 20 ms frames
#: RMS (full scale 1.0) above which a frame has sound: -40 dBFS, far above AAC's silence
SOUND_RMS = 0.01
_JOIN_GAP_S = 0.6  # pauses shorter than this stay inside one stretch of speech
_MIN_SPEECH_S = 0.2  # shorter bursts are clicks
_PAD_S = 0.2  # context kept around each stretch: Whisper needs the word onsets
#: tokens generated at most per window: 30 s of fast speech with timestamps needs ~200
MAX_NEW_TOKENS = 224
#: windows per generate() call
BATCH_WINDOWS = 8
#: windows the language is detected on
LANGUAGE_WINDOWS = 3
_ASR_HINT = "set TIKTOK_ANALYZER_ASR_MODEL to a local Whisper directory or a hub id"


@dataclass(frozen=True)
class AudioTrack:
    """The file's audio as 16 kHz mono float32, and where in it there is sound."""

    samples: np.ndarray
    speech: list[tuple[float, float]]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def has_speech(self) -> bool:
        return bool(self.speech)


def decode_audio(path: str | Path, max_s: float | None = None) -> AudioTrack | None:
    """The default audio stream resampled to 16 kHz mono, or None when the file has none."""
    import av

    with open_media(path) as container:
        stream = container.streams.best("audio")
        if stream is None:
            return None
        collector = AudioCollector(max_s)
        try:
            for packet in demux_packets(container, stream):
                collector.add(packet)
                if collector.stopped:
                    break
        except av.error.FFmpegError as exc:
            # A damaged audio stream loses the speech after the damage, not the analysis.
            logger.info("%s: audio decoding stopped early: %s", Path(path).name, exc)
        return audio_track(collector.samples())


def audio_track(samples: np.ndarray) -> AudioTrack:
    """16 kHz mono samples with the stretches of sound found in them."""
    return AudioTrack(samples=samples, speech=find_speech(samples))


def find_speech(samples: np.ndarray) -> list[tuple[float, float]]:
    """Stretches of sound (start_s, end_s), pauses under 0.6 s joined, 0.2 s padded."""
    hop = int(_FRAME_S * SAMPLE_RATE)
    count = len(samples) // hop
    if count == 0:
        return []
    frames = samples[: count * hop].reshape(count, hop)
    loud = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) >= SOUND_RMS
    stretches: list[list[float]] = []
    for index in np.flatnonzero(loud):
        start, end = index * _FRAME_S, (index + 1) * _FRAME_S
        if stretches and start - stretches[-1][1] <= _JOIN_GAP_S:
            stretches[-1][1] = end
        else:
            stretches.append([start, end])
    length = len(samples) / SAMPLE_RATE
    return [
        (round(max(0.0, a - _PAD_S), 3), round(min(length, b + _PAD_S), 3))
        for a, b in stretches
        if b - a >= _MIN_SPEECH_S
    ]


def speech_windows(speech: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Stretches packed into windows of at most WINDOW_S; a longer stretch is cut in pieces."""
    windows: list[list[float]] = []
    for start, end in speech:
        while end - start > WINDOW_S:
            windows.append([start, start + WINDOW_S])
            start += WINDOW_S
        if windows and end - windows[-1][0] <= WINDOW_S and start >= windows[-1][1]:
            windows[-1][1] = end
        else:
            windows.append([start, end])
    return [(a, b) for a, b in windows]


@dataclass(frozen=True)
class WhisperModel:
    model: Any
    processor: Any
    device: str
    dtype: Any
    test_model: bool
    multilingual: bool


def load_whisper(model_name: str, device: str = "auto", quantization: str = "fp32") -> WhisperModel:
    """Processor and model, from a local directory or the hub cache, else ModelLoadError."""
    import torch

    # The loading helpers every model shares (imported here: they pull torch in).
    from analyzers.models.loading import first_line, looks_like_path, resolve_device

    path = Path(model_name).expanduser()
    local = path.is_dir()
    if not local and (path.exists() or looks_like_path(model_name)):
        raise ModelLoadError(f"ASR model directory {model_name!r} does not exist; {_ASR_HINT}")
    resolved = resolve_device(device)
    # Whisper-small is small: int8 would only slow it down; half precision on a GPU.
    dtype = torch.float32
    if resolved != "cpu":
        dtype = torch.bfloat16 if quantization == "bf16" else torch.float16
        if quantization == "fp32":
            dtype = torch.float32
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    source = str(path) if local else model_name
    try:
        processor, model = _from_pretrained(source, resolved, dtype, cache_only=True)
    except OSError as exc:
        if local:
            raise ModelLoadError(
                f"cannot load Whisper {model_name!r}: {first_line(exc)}; {_ASR_HINT}"
            ) from exc
        processor, model = _from_hub(source, resolved, dtype)
    except (ValueError, RuntimeError, ImportError, KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"cannot load Whisper {model_name!r} on {resolved}: {first_line(exc)}; {_ASR_HINT}"
        ) from exc
    return WhisperModel(
        model=model,
        processor=processor,
        device=resolved,
        dtype=dtype,
        test_model=local and is_test_model(path),
        multilingual=bool(getattr(model.generation_config, "is_multilingual", True)),
    )


def _from_pretrained(source: str, device: str, dtype: Any, cache_only: bool) -> tuple[Any, Any]:
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    processor = WhisperProcessor.from_pretrained(source, local_files_only=cache_only)
    model = WhisperForConditionalGeneration.from_pretrained(
        source, local_files_only=cache_only, dtype=dtype, device_map={"": device}
    )
    return processor, model.eval()


def _from_hub(source: str, device: str, dtype: Any) -> tuple[Any, Any]:
    from analyzers.models.loading import require_hub_reachable

    try:
        # The same quick reachability check as BLIP-2's, so a dead hub fails in seconds.
        require_hub_reachable(source, what="Whisper", hint=_ASR_HINT)
        return _from_pretrained(source, device, dtype, cache_only=False)
    except (ModelLoadError, OSError) as exc:
        raise ModelLoadError(
            f"cannot load Whisper {source!r}: not in the local cache and the Hugging Face Hub "
            f"cannot provide it; download it on a connected machine, or {_ASR_HINT}"
        ) from exc


class Transcriber:
    """Whisper, loaded once; ``transcribe`` turns an AudioTrack into a Transcript or None."""

    def __init__(self, loaded: WhisperModel) -> None:
        self.loaded = loaded

    def transcribe(self, audio: AudioTrack) -> Transcript | None:
        if not audio.has_speech:
            return None
        windows = speech_windows(audio.speech)
        features = self._features(audio, windows)
        language = self._language(features)
        segments: list[TranscriptSegment] = []
        for first in range(0, len(windows), BATCH_WINDOWS):
            batch = features[first : first + BATCH_WINDOWS]
            sequences = self._generate(batch, language)
            for (start, end), tokens in zip(windows[first:], sequences, strict=False):
                segments += self._segments(tokens, start, min(end, audio.duration_s))
        # Windows are in time order; inside one, a confused model may step back in time.
        segments = sorted((s for s in segments if s.text), key=lambda s: s.start_s)
        if not segments:
            return None
        text = " ".join(s.text for s in segments)
        return Transcript(language=language, text=text, segments=segments)

    def _features(self, audio: AudioTrack, windows: list[tuple[float, float]]) -> Any:
        pieces = [audio.samples[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)] for a, b in windows]
        extractor = self.loaded.processor.feature_extractor
        batch = extractor(pieces, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        return batch.input_features.to(self.loaded.device, self.loaded.dtype)

    def _language(self, features: Any) -> str:
        import torch

        if not self.loaded.multilingual:
            return "en"
        # Detection runs the encoder once more: the first windows are enough to tell.
        with torch.inference_mode():
            ids = self.loaded.model.detect_language(input_features=features[:LANGUAGE_WINDOWS])
        tokens = self.loaded.processor.tokenizer.convert_ids_to_tokens(ids.reshape(-1).tolist())
        # One language for the whole video: the one most of those windows were heard in.
        return str(Counter(tokens).most_common(1)[0][0]).strip("<|>")

    def _generate(self, features: Any, language: str) -> Any:
        import torch

        # The decoder has max_target_positions places, 4 of them for the prompt tokens.
        room = int(self.loaded.model.config.max_target_positions) - 4
        # A copy of the checkpoint's config with the cap in it: generation arguments beside
        # a config make transformers log a warning on every call.
        config = copy.deepcopy(self.loaded.model.generation_config)
        config.max_new_tokens = max(1, min(MAX_NEW_TOKENS, room))
        config.max_length = None
        kwargs: dict[str, Any] = {"return_timestamps": True, "generation_config": config}
        if self.loaded.multilingual:
            kwargs |= {"language": language, "task": "transcribe"}
        with torch.inference_mode():
            out = self.loaded.model.generate(input_features=features, **kwargs)
        return out.sequences if hasattr(out, "sequences") else out

    def _segments(self, tokens: Any, start: float, end: float) -> list[TranscriptSegment]:
        tokenizer = self.loaded.processor.tokenizer
        special = set(tokenizer.all_special_ids)
        # Timestamp tokens are not "special"; language or task tokens met mid-text
        # (a confused model) would otherwise end up in the offsets' text.
        kept = [int(t) for t in tokens.tolist() if int(t) not in special]
        decoded = tokenizer.decode(kept, skip_special_tokens=True, output_offsets=True)
        offsets = decoded.get("offsets") or []

        def clamp(t: float | None, fallback: float) -> float:
            moment = fallback if t is None else start + float(t)
            return round(min(max(moment, start), end), 3)

        if not offsets:
            text = _tidy(decoded.get("text", ""))
            return [TranscriptSegment(start_s=round(start, 3), end_s=round(end, 3), text=text)]
        segments = []
        for item in offsets:
            begin, finish = item.get("timestamp") or (None, None)
            a, b = clamp(begin, start), clamp(finish, end)
            segments.append(TranscriptSegment(start_s=a, end_s=max(a, b), text=_tidy(item["text"])))
        return segments


def _tidy(text: str) -> str:
    # Control characters come from byte-level tokens cut mid-character (the test model).
    return " ".join("".join(ch for ch in text if ch.isprintable() and ch != "\ufffd").split())


def check_audio(path: str | Path, max_s: float | None) -> AudioTrack | None:
    """decode_audio that turns an unreadable audio stream into 'no audio' (a stage never fails)."""
    try:
        return decode_audio(path, max_s)
    except (InputError, ValueError, OSError) as exc:
        logger.info("%s: audio not decoded: %s", Path(path).name, exc)
        return None
