"""A BLIP-2 analyzer that hangs in the model call, as a stuck GPU call would (serving tests)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from analyzers.base import AnalyzerConfig, FrameCaption, ProgressCallback
from analyzers.models.blip2.analyzer import Blip2Analyzer

#: seconds each model call hangs; read here, not a setting. Spawned workers inherit it from
#: the server's environment; Ray actors on a cluster started elsewhere do not, and hang the default.
HANG_ENV = "TIKTOK_ANALYZER_TEST_HANG_S"
DEFAULT_HANG_S = 2.0


class HangingBlip2Analyzer(Blip2Analyzer):
    """The real BLIP-2 that sleeps before every model call; the registry's ``blip2-hanging``."""

    name = "blip2-hanging"

    def __init__(self, config: AnalyzerConfig, *, hang_s: float | None = None) -> None:
        super().__init__(config)
        self.hang_s = float(os.environ.get(HANG_ENV, DEFAULT_HANG_S)) if hang_s is None else hang_s

    def describe_many(
        self,
        items: Sequence[tuple[Any, Sequence[str]]],
        progress: ProgressCallback | None = None,
    ) -> list[list[FrameCaption]]:
        # Before the model runs, where a stuck GPU call would block the job.
        time.sleep(self.hang_s)
        return super().describe_many(items, progress)
