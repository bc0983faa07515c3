"""One analyzer and the stages beside it, loaded once and run on video after video.

The worker and the CLI both hold an :class:`Engine`: loading (the analyzer from the
registry, then the stages, each skipped with a warning when it cannot load) and the
two steps of an analysis (``prepare`` on the CPU, ``describe`` on the model) are
written here once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from analyzers.base import Analyzer, AnalyzerConfig, ProgressCallback
from analyzers.options import AnalysisOptions
from analyzers.pipeline import PreparedVideo, describe_prepared, describe_prepared_many, prepare
from analyzers.registry import create_analyzer
from analyzers.schema import AnalysisResult, ModelInfo, VideoInfo
from analyzers.stages import Stages, StagesConfig

log = logging.getLogger(__name__)


class Engine:
    """A loaded analyzer, its model's description and the loaded stages (None: none run)."""

    def __init__(self, analyzer: Analyzer, model_info: ModelInfo, stages: Stages | None) -> None:
        self.analyzer = analyzer
        self.model_info = model_info
        self.stages = stages

    @classmethod
    def load(cls, analyzer: str, config: AnalyzerConfig, stages: StagesConfig) -> Engine:
        """Build and load the analyzer named ``analyzer``, then the stages.

        The analyzer's failures propagate (AnalyzerError for what a user can fix); a stage
        never does: what cannot load is a warning in every result, or no stages at all."""
        loaded = create_analyzer(analyzer, config)
        model_info = loaded.load()
        return cls(loaded, model_info, _load_stages(stages))

    def prepare(
        self,
        path: str | Path,
        options: AnalysisOptions,
        *,
        probe: VideoInfo | None = None,
        threads: int | None = None,
    ) -> PreparedVideo:
        """The CPU side: decode, shots, audio, OCR, keyframes, the model's input."""
        return prepare(path, self.analyzer, options, self.stages, threads, probe)

    def describe(
        self, prepared: PreparedVideo, progress: ProgressCallback | None = None
    ) -> AnalysisResult:
        """The model side of one prepared video, and the full result."""
        return describe_prepared(prepared, self.analyzer, self.model_info, progress, self.stages)

    def describe_many(
        self, videos: Sequence[PreparedVideo], progress: ProgressCallback | None = None
    ) -> list[AnalysisResult]:
        """Several prepared videos sharing the model's calls; one result each."""
        return describe_prepared_many(videos, self.analyzer, self.model_info, progress, self.stages)

    def release_memory(self) -> None:
        """Give cached accelerator memory back (the analyzer's hook)."""
        self.analyzer.release_memory()

    def close(self) -> None:
        """Let the stages go (OCR's Tesseract handle, Whisper)."""
        if self.stages is not None:
            self.stages.close()


def _load_stages(config: StagesConfig) -> Stages | None:
    try:
        return Stages.load(config)
    except Exception:  # a stage never takes the analyzer down
        log.exception("running without the stages")
        return None
