"""The per-video choices of one analysis, validated once, then frozen for the job's life."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from analyzers.aspects import DEFAULT_ASPECTS, resolve_aspects
from analyzers.errors import InvalidOptionError
from analyzers.media.sampling import Decoder, Seek


@dataclass(frozen=True)
class AnalysisOptions:
    """What to do with one video. Build it with :meth:`create` (or ``Settings.analysis_options``),
    which validates; everything downstream trusts it and never checks it again.

    Defaults live in ``api.settings.Settings`` only; this class has none on purpose.
    """

    frames: int
    aspects: tuple[str, ...]
    decoder: Decoder
    decode_timeout_s: float
    max_duration_s: float
    seek: Seek

    @classmethod
    def create(
        cls,
        *,
        frames: int,
        aspects: str | Sequence[str] | None,
        max_frames: int,
        decoder: Decoder,
        decode_timeout_s: float,
        max_duration_s: float,
        seek: Seek,
    ) -> AnalysisOptions:
        """Validate a request's choices against the configured limits."""
        if isinstance(frames, bool) or not 1 <= frames <= max_frames:
            raise InvalidOptionError(f"frames must be between 1 and {max_frames}, got {frames}")
        return cls(
            frames=frames,
            aspects=parse_aspects(aspects),
            decoder=decoder,
            decode_timeout_s=decode_timeout_s,
            max_duration_s=max_duration_s,
            seek=seek,
        )


def parse_aspects(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """'scene,mood' or ['scene', 'mood'] -> canonical tuple; None -> every default aspect."""
    if text is None:
        return DEFAULT_ASPECTS
    items = text.split(",") if isinstance(text, str) else list(text)
    return resolve_aspects(tuple(s.strip() for s in items if s.strip()))
