"""Speech, the model side: faster-whisper on the stretches the VAD found, with word times.

Only the speech stretches reach Whisper, joined end to end (as faster-whisper's own
``vad_filter`` does), and every time is mapped back to video time. Segments Whisper
itself doubts are speech (high no-speech probability and a low log-probability) are
dropped: what is left of music the VAD let through is not written down as words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analyzers.schema import Transcript, TranscriptSegment, TranscriptWord
from analyzers.stages.asr_model import AsrModel
from analyzers.stages.speech import SAMPLE_RATE, AudioTrack, decode_audio

#: beams searched per step; 5 is Whisper's reference setting
BEAM_SIZE = 5
#: a segment whose no-speech probability is above this ...
NO_SPEECH_PROB = 0.6
#: ... and whose mean token log-probability is below this was not speech (Whisper's rule)
LOW_LOGPROB = -1.0


class Transcriber:
    """faster-whisper, loaded once; ``transcribe`` turns an AudioTrack into a Transcript or None."""

    def __init__(self, asr: AsrModel, language: str | None = None, translate: bool = False) -> None:
        self.asr = asr
        #: a forced language code, or None to detect it
        self.language = language or None
        #: add an English translation of speech in another language (multilingual models)
        self.translate = translate

    @property
    def name(self) -> str:
        """Which model transcribes: a size name, a hub repository or a directory."""
        return self.asr.name

    def transcribe(self, audio: AudioTrack) -> Transcript | None:
        """What is said in the audio's speech stretches; None when nothing is (no model call)."""
        if not audio.has_speech:
            return None
        from faster_whisper.transcribe import restore_speech_timestamps

        chunks = [
            {"start": int(a * SAMPLE_RATE), "end": min(len(audio.samples), int(b * SAMPLE_RATE))}
            for a, b in audio.speech
        ]
        speech = np.concatenate([audio.samples[c["start"] : c["end"]] for c in chunks])
        found, info = self.asr.model.transcribe(
            speech.astype(np.float32, copy=False),
            language=self.language,
            beam_size=BEAM_SIZE,
            word_timestamps=True,
            vad_filter=False,  # the stretches are already speech only
            condition_on_previous_text=False,  # one misheard segment does not steer the next
        )
        restored = restore_speech_timestamps(found, chunks, SAMPLE_RATE)
        segments = [_segment(s, audio.duration_s) for s in restored if _heard(s)]
        segments = [s for s in segments if s.text]
        if not segments:
            return None
        return Transcript(
            language=info.language,
            language_probability=round(float(info.language_probability), 3),
            text=" ".join(s.text for s in segments),
            segments=segments,
            translation=self._translation(speech, info.language),
        )

    def _translation(self, speech: np.ndarray, language: str) -> str | None:
        if not self.translate or language == "en" or not self.asr.multilingual:
            return None
        found, _ = self.asr.model.transcribe(
            speech, language=language, task="translate", beam_size=BEAM_SIZE, vad_filter=False
        )
        return " ".join(_tidy(s.text) for s in found if _heard(s)).strip() or None


def transcribe_file(path: str | Path, transcriber: Transcriber) -> Transcript | None:
    """The transcript of a file's default audio stream (the evaluation's entry point)."""
    audio = decode_audio(path)
    return None if audio is None else transcriber.transcribe(audio)


def _heard(segment: Any) -> bool:
    return not (segment.no_speech_prob > NO_SPEECH_PROB and segment.avg_logprob < LOW_LOGPROB)


def _segment(segment: Any, duration_s: float) -> TranscriptSegment:
    def clamp(t: float) -> float:
        return round(min(max(float(t), 0.0), duration_s), 3)

    words = [
        TranscriptWord(
            text=_tidy(w.word),
            start_s=clamp(w.start),
            end_s=clamp(max(w.start, w.end)),
            probability=round(float(w.probability), 3),
        )
        for w in segment.words or []
        if _tidy(w.word)
    ]
    start = clamp(segment.start)
    return TranscriptSegment(
        start_s=start, end_s=max(start, clamp(segment.end)), text=_tidy(segment.text), words=words
    )


def _tidy(text: str) -> str:
    return " ".join(text.split())
