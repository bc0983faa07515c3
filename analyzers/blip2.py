"""BLIP-2 (OPT) analyzer: one vision pass per frame, caption and aspects batched through OPT."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from analyzers.answers import clean_answer
from analyzers.base import Analyzer, AnalyzerConfig, FrameCaption, ProgressCallback
from analyzers.blip2_generation import prompt_input_ids, run_naive, run_vision_once
from analyzers.blip2_loading import LoadedModel, load_blip2
from analyzers.errors import AnalysisError, AnalyzerError
from analyzers.prompts import ASPECT_PROMPTS, CAPTION_PROMPT
from analyzers.schema import ModelInfo

logger = logging.getLogger(__name__)


class Blip2Analyzer(Analyzer):
    """Salesforce BLIP-2 OPT, int8 by default; see analyzers.blip2_generation for the batching."""

    name = "blip2"

    def __init__(self, config: AnalyzerConfig, *, llm_int8_threshold: float = 6.0) -> None:
        # llm_int8_threshold: LLM.int8 outlier threshold; 0 turns the outlier decomposition off,
        # which makes int8 results independent of how rows are batched (used by the tests).
        super().__init__(config)
        self._llm_int8_threshold = llm_int8_threshold
        self._loaded: LoadedModel | None = None

    @property
    def loaded(self) -> LoadedModel:
        if self._loaded is None:
            raise AnalysisError("the BLIP-2 model is not loaded; call load() first")
        return self._loaded

    @property
    def input_size(self) -> tuple[int, int] | None:
        if self._loaded is None:
            return None
        return self._loaded.image_size

    def load(self) -> ModelInfo:
        self._loaded = load_blip2(self.config, llm_int8_threshold=self._llm_int8_threshold)
        if self._loaded.test_model:
            logger.warning(
                "model %s is the random-weight test model: its captions and answers are "
                "meaningless text; point TIKTOK_ANALYZER_MODEL / --model at a real BLIP-2 "
                "for real descriptions",
                self.config.model,
            )
        return ModelInfo(
            name=self.config.model,
            analyzer=self.name,
            quantization=self.config.quantization,
            device=self._loaded.device,
            test_model=self._loaded.test_model,
        )

    def preprocess(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Resize and normalise RGB uint8 frames to a (frames, 3, H, W) float32 CPU tensor."""
        loaded = self.loaded
        if len(images) == 0:
            width, height = loaded.image_size
            return torch.empty((0, 3, height, width), dtype=torch.float32)
        try:
            # The image processor keeps no state between calls, so a worker thread may run
            # this for the next video while describe() holds the model.
            batch = loaded.processor.image_processor(
                images=[np.asarray(img) for img in images],
                input_data_format="channels_last",
                return_tensors="pt",
            )
        except (ValueError, TypeError, OSError) as exc:
            raise AnalysisError(f"could not preprocess frames for BLIP-2: {exc}") from exc
        pixel_values: torch.Tensor = batch["pixel_values"]
        return pixel_values

    def describe(
        self,
        prepared: Any,
        aspects: Sequence[str],
        progress: ProgressCallback | None = None,
    ) -> list[FrameCaption]:
        """Caption + aspect answers per frame; vision encoder and Q-Former run once per frame."""
        return self._run(prepared, aspects, progress, naive=False)

    def describe_naive(
        self,
        prepared: Any,
        aspects: Sequence[str],
        progress: ProgressCallback | None = None,
    ) -> list[FrameCaption]:
        """Reference path for tests and the benchmark: model.generate once per prompt."""
        return self._run(prepared, aspects, progress, naive=True)

    def release_memory(self) -> None:
        gc.collect()
        if self._loaded is not None and self._loaded.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def _run(
        self,
        prepared: Any,
        aspects: Sequence[str],
        progress: ProgressCallback | None,
        *,
        naive: bool,
    ) -> list[FrameCaption]:
        if self.config.test_hang_s > 0:
            # Test hook only (TIKTOK_ANALYZER_TEST_HANG_S): stands in for a hung GPU call so
            # the serving tests can exercise heartbeat and job timeouts.
            time.sleep(self.config.test_hang_s)
        names = tuple(aspects)  # canonical names: AnalysisOptions resolved them at intake
        prompts = [CAPTION_PROMPT, *(ASPECT_PROMPTS[name] for name in names)]
        try:
            return self._generate(prepared, names, prompts, progress, naive=naive)
        except AnalyzerError:
            raise
        except MemoryError as exc:
            raise AnalysisError(
                "out of memory while describing frames; lower TIKTOK_ANALYZER_BATCH_SIZE"
            ) from exc
        except RuntimeError as exc:
            hint = "; lower TIKTOK_ANALYZER_BATCH_SIZE" if "out of memory" in str(exc) else ""
            raise AnalysisError(f"BLIP-2 failed while describing frames: {exc}{hint}") from exc

    def _generate(
        self,
        prepared: Any,
        names: Sequence[str],
        prompts: list[str],
        progress: ProgressCallback | None,
        *,
        naive: bool,
    ) -> list[FrameCaption]:
        loaded = self.loaded
        if not isinstance(prepared, torch.Tensor) or prepared.ndim != 4:
            raise AnalysisError("describe() expects the tensor that preprocess() returned")
        frames = prepared.shape[0]
        if frames == 0:
            return []
        pixel_values = prepared.to(loaded.device, loaded.compute_dtype)
        sequences = [prompt_input_ids(loaded.processor.tokenizer, p, loaded.spec) for p in prompts]
        per_frame = len(prompts)

        def on_batch(rows_done: int) -> None:
            if progress is not None:
                progress(rows_done // per_frame, frames)

        kwargs: dict[str, Any] = {
            "batch_size": self.config.batch_size,
            "max_new_tokens": self.config.max_new_tokens,
        }
        with torch.no_grad():
            if naive:
                tokens = run_naive(loaded.model, pixel_values, sequences, loaded.spec, **kwargs)
                on_batch(frames * per_frame)
            else:
                tokens = run_vision_once(
                    loaded.model, pixel_values, sequences, loaded.spec, on_batch=on_batch, **kwargs
                )
        return [self._to_caption(row, names, prompts) for row in tokens]

    def _to_caption(
        self, row: list[list[int]], names: Sequence[str], prompts: list[str]
    ) -> FrameCaption:
        decode = self.loaded.processor.tokenizer.decode
        texts = [
            clean_answer(decode(ids, skip_special_tokens=True), prompt)
            for ids, prompt in zip(row, prompts, strict=True)
        ]
        return FrameCaption(caption=texts[0], aspects=dict(zip(names, texts[1:], strict=True)))
