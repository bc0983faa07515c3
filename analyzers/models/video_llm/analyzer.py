"""The ``video-llm`` analyzer: a video language model describes the sampled frames together.

One detailed-description prompt (the summary) and one prompt per aspect (whole-video
answers) go through the model with the same visual tokens, which are computed
once per video and optionally merged (``token_merge_ratio``). See docs/video_llm.md.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from analyzers.base import (
    Analyzer,
    AnalyzerConfig,
    FrameCaption,
    ProgressCallback,
    VideoDescription,
)
from analyzers.errors import AnalysisError, AnalyzerError, ModelLoadError
from analyzers.models.video_llm.generation import (
    build_row,
    generate_rows,
    generation_spec,
    merge_video,
    prompt_ids,
    visual_sequence,
)
from analyzers.models.video_llm.loading import LoadedVideoLLM, load_video_llm
from analyzers.models.video_llm.parsing import video_description
from analyzers.models.video_llm.prompting import DESCRIPTION_PROMPT, aspect_prompt, time_instruction
from analyzers.schema import EMPTY_ANSWER, ModelInfo

logger = logging.getLogger(__name__)

#: the detailed description may run this many times longer than an aspect answer
DESCRIPTION_TOKEN_FACTOR = 4


@dataclass(frozen=True)
class VideoInput:
    """What preprocess() hands to describe_video(): the family's pixel tensors, on the CPU."""

    frames: int
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class RunStats:
    """What the last describe_video() fed the language model (for the benchmark and logs)."""

    frames: int
    visual_tokens_before_merge: int
    visual_tokens: int
    prompt_tokens: int


class VideoLLMAnalyzer(Analyzer):
    """Qwen2-VL / Qwen2.5-VL, LLaVA-OneVision or LLaVA (AuroraCap) through transformers."""

    name = "video-llm"

    def __init__(self, config: AnalyzerConfig) -> None:
        super().__init__(config)
        if not 0.0 < config.token_merge_ratio <= 1.0:
            raise ModelLoadError(
                f"token merge ratio {config.token_merge_ratio} is out of range; set "
                "TIKTOK_ANALYZER_TOKEN_MERGE_RATIO to a share of tokens kept in (0, 1]"
            )
        self._loaded: LoadedVideoLLM | None = None
        self.last_run: RunStats | None = None

    @property
    def loaded(self) -> LoadedVideoLLM:
        if self._loaded is None:
            raise AnalysisError("the video LLM is not loaded; call load() first")
        return self._loaded

    def load(self) -> ModelInfo:
        self._loaded = load_video_llm(self.config)
        if self._loaded.test_model:
            logger.warning(
                "model %s is a random-weight test model: the description and the answers are "
                "meaningless text; point TIKTOK_ANALYZER_MODEL / --model at a real video LLM "
                "for real descriptions",
                self.config.model,
            )
        return ModelInfo(
            name=self.config.model,
            analyzer=self.name,
            quantization=self.config.quantization,
            device=self._loaded.device,
            test_model=self._loaded.test_model,
            experimental=True,
        )

    def preprocess(self, images: Sequence[np.ndarray]) -> VideoInput:
        """Frames through the family's image processor (PIL path): CPU tensors, no model."""
        loaded = self.loaded
        if len(images) == 0:
            return VideoInput(frames=0)
        try:
            tensors = loaded.family.pixel_inputs(
                loaded.image_processor, [np.asarray(img) for img in images]
            )
        except (ValueError, TypeError, OSError) as exc:
            raise AnalysisError(f"could not preprocess frames for the video LLM: {exc}") from exc
        return VideoInput(frames=len(images), tensors=tensors)

    def describe_video(
        self,
        prepared: Any,
        aspects: Sequence[str],
        timestamps: Sequence[float],
        duration_s: float,
        progress: ProgressCallback | None = None,
    ) -> VideoDescription:
        """Summary from the detailed description, whole-video aspect answers, per-frame fields."""
        if not isinstance(prepared, VideoInput):
            raise AnalysisError("describe_video() expects what preprocess() returned")
        if len(timestamps) != prepared.frames:
            raise AnalysisError(f"{len(timestamps)} timestamps for {prepared.frames} frames")
        try:
            texts = self.generate_texts(prepared, tuple(aspects), timestamps, duration_s, progress)
        except AnalyzerError:
            raise
        except MemoryError as exc:
            raise AnalysisError(
                "out of memory while describing the video; lower TIKTOK_ANALYZER_FRAMES or "
                "TIKTOK_ANALYZER_TOKEN_MERGE_RATIO"
            ) from exc
        except ValueError as exc:
            # A prompt whose placeholders do not match the frames: a template problem.
            raise AnalysisError(f"the video LLM prompt could not be built: {exc}") from exc
        except RuntimeError as exc:
            hint = (
                "; lower TIKTOK_ANALYZER_FRAMES or TIKTOK_ANALYZER_TOKEN_MERGE_RATIO"
                if "out of memory" in str(exc)
                else ""
            )
            raise AnalysisError(f"the video LLM failed: {exc}{hint}") from exc
        # The pipeline adds the test-model warning for any test model, this one included.
        return video_description(texts, tuple(aspects), timestamps, duration_s)

    def describe(
        self,
        prepared: Any,
        aspects: Sequence[str],
        progress: ProgressCallback | None = None,
    ) -> list[FrameCaption]:
        """Frame-contract fallback: the whole-video answers repeated for every frame.

        Without timestamps the frames are presented as one per second; the pipeline calls
        describe_video() instead, with the real times.
        """
        frames = prepared.frames if isinstance(prepared, VideoInput) else 0
        video = self.describe_video(
            prepared, aspects, [float(i) for i in range(frames)], float(frames), progress
        )
        caption = video.summary
        answers = {
            name: (video.aspects[name][0].text if video.aspects.get(name) else EMPTY_ANSWER)
            for name in aspects
        }
        return [FrameCaption(caption=caption, aspects=dict(answers)) for _ in range(frames)]

    def release_memory(self) -> None:
        gc.collect()
        if self._loaded is not None and self._loaded.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def generate_texts(
        self,
        prepared: VideoInput,
        aspects: Sequence[str],
        timestamps: Sequence[float],
        duration_s: float,
        progress: ProgressCallback | None = None,
    ) -> list[str]:
        """Raw decoded text: the description first, then one answer per aspect."""
        loaded = self.loaded
        if prepared.frames == 0:
            return [""] * (1 + len(aspects))
        total = 1 + len(aspects)
        with torch.no_grad():
            encoded = loaded.family.encode(loaded.model, prepared.tensors, loaded.compute_dtype)
            merged = merge_video(encoded, self.config.token_merge_ratio)
            visual = visual_sequence(merged)
            instruction = time_instruction(duration_s, timestamps)
            questions = [DESCRIPTION_PROMPT, *(aspect_prompt(name) for name in aspects)]
            rows = [
                build_row(loaded, merged, prompt_ids(loaded, prepared.frames, instruction, q))
                for q in questions
            ]
            self.last_run = RunStats(
                frames=prepared.frames,
                visual_tokens_before_merge=sum(f.features.shape[0] for f in encoded.frames),
                visual_tokens=sum(f.features.shape[0] for f in merged.frames),
                prompt_tokens=len(rows[0].ids),
            )
            spec = generation_spec(loaded)
            max_new = self.config.max_new_tokens
            tokens = generate_rows(
                loaded,
                visual,
                rows[:1],
                spec,
                batch_size=1,
                max_new_tokens=DESCRIPTION_TOKEN_FACTOR * max_new,
            )
            if progress is not None:
                progress(1, total)

            def on_batch(done: int) -> None:
                if progress is not None:
                    progress(1 + done, total)

            tokens += generate_rows(
                loaded,
                visual,
                rows[1:],
                spec,
                batch_size=self.config.batch_size,
                max_new_tokens=max_new,
                on_batch=on_batch,
            )
        decode = loaded.tokenizer.decode
        return [decode(ids, skip_special_tokens=True) for ids in tokens]
