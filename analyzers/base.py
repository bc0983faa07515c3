"""The analyzer contract and the registry of analyzers by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from analyzers.schema import AspectAnswer, ModelInfo, Quantization

#: called as progress(done, total) while frames are being described
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class AnalyzerConfig:
    """What an analyzer needs to load and run; picklable, built from the settings.

    Its defaults are api.settings.Settings': this class restates none of them."""

    model: str
    quantization: Quantization
    device: str
    batch_size: int = 32
    max_new_tokens: int = 24
    #: video LLMs: share of visual tokens kept per frame after merging (1.0 = no merging)
    token_merge_ratio: float = 1.0


@dataclass(frozen=True)
class FrameCaption:
    """What an analyzer says about one frame: a caption and one answer per aspect."""

    caption: str
    aspects: dict[str, str]


@dataclass(frozen=True)
class VideoDescription:
    """What a video-level analyzer (a video LLM) says about the whole video at once."""

    #: the result's summary: the model's detailed description of the video
    summary: str
    #: per requested aspect, the answers with the spans they hold for (whole video by default)
    aspects: dict[str, list[AspectAnswer]]
    #: one per sampled frame, in order; caption "" and no aspects where the model gave none
    frames: list[FrameCaption]
    warnings: list[str] = field(default_factory=list)


class Analyzer(ABC):
    """Turns sampled video frames into text, one frame at a time.

    An analyzer is built from an :class:`AnalyzerConfig`, loads its model once
    in :meth:`load`, and then describes any number of videos. The work is split
    in two so that a worker can overlap them: :meth:`preprocess` is CPU-only
    (resize, normalise, to tensors) and may run in a thread for the next video
    while :meth:`describe` runs the model on the current one.

    Add a new analyzer to :data:`analyzers.registry.ANALYZERS` under a name and
    the CLI and the service can use it with ``--analyzer NAME`` /
    ``TIKTOK_ANALYZER_ANALYZER=NAME``::

        class MeanColour(Analyzer):  # ANALYZERS["mean-colour"] = "mymod:MeanColour"
            name = "mean-colour"

            def load(self) -> ModelInfo:
                return ModelInfo(name="mean", quantization="fp32", device="cpu")

            def preprocess(self, images):
                return [img.mean(axis=(0, 1)) for img in images]

            def describe(self, prepared, aspects, progress=None):
                return [
                    FrameCaption(f"mean colour {c.round()}", {a: "n/a" for a in aspects})
                    for c in prepared
                ]

    ``describe`` must return one :class:`FrameCaption` per frame, in order,
    with an answer (possibly :data:`analyzers.schema.EMPTY_ANSWER`) for every
    requested aspect, and raise only errors from :mod:`analyzers.errors`.
    """

    name: ClassVar[str] = ""

    def __init__(self, config: AnalyzerConfig) -> None:
        self.config = config
        self._warnings: list[str] = []

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(width, height) the model wants; the decoder resizes to it when it can."""
        return None

    @abstractmethod
    def load(self) -> ModelInfo:
        """Load the model once; raise ModelLoadError with a message saying what to set."""

    @abstractmethod
    def preprocess(self, images: Sequence[np.ndarray]) -> Any:
        """CPU-side preparation of RGB uint8 frames; must not touch the model."""

    @abstractmethod
    def describe(
        self,
        prepared: Any,
        aspects: Sequence[str],
        progress: ProgressCallback | None = None,
    ) -> list[FrameCaption]:
        """Caption every frame and answer every aspect for it."""

    def describe_video(
        self,
        prepared: Any,
        aspects: Sequence[str],
        timestamps: Sequence[float],
        duration_s: float,
        progress: ProgressCallback | None = None,
    ) -> VideoDescription | None:
        """Optional video-level hook: describe the whole video at once, or None (the default).

        An analyzer that sees the frames together (a video LLM) returns the summary and
        whole-video aspect answers here; the pipeline then uses them instead of calling
        :meth:`describe` and aggregating per-frame answers. Frame analyzers keep the default.
        """
        return None

    def describe_many(
        self,
        items: Sequence[tuple[Any, Sequence[str]]],
        progress: ProgressCallback | None = None,
    ) -> list[list[FrameCaption]]:
        """describe() for several prepared videos: (prepared, aspects) each, results in order.

        The default describes them one by one; an analyzer that batches (BLIP-2) lets their
        frame x prompt rows share model calls. ``progress(done, total)`` counts frames of all.
        """
        results: list[list[FrameCaption]] = []
        total = sum(_frame_count(prepared) for prepared, _ in items)
        for prepared, aspects in items:
            done = sum(len(r) for r in results)
            step = None if progress is None else _offset_progress(progress, done, total)
            results.append(self.describe(prepared, aspects, step))
        return results

    def take_warnings(self) -> list[str]:
        """Warnings the last describe()/describe_many() left for the result, once, then cleared.

        For example BLIP-2 retried generation with a smaller batch after running out of GPU
        memory. The pipeline adds them to the result's ``warnings``.
        """
        warnings, self._warnings = self._warnings, []
        return warnings

    def warn(self, message: str) -> None:
        """Leave a warning for the result of the video being described (see take_warnings)."""
        self._warnings.append(message)

    def release_memory(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Give cached accelerator memory back (called when the worker is idle)."""


def _frame_count(prepared: Any) -> int:
    try:
        return len(prepared)
    except TypeError:
        return 0


def _offset_progress(progress: ProgressCallback, done: int, total: int) -> ProgressCallback:
    return lambda frames, _total: progress(done + frames, total)
