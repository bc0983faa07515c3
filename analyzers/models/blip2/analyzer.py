"""BLIP-2 (OPT) analyzer: one vision pass per frame, caption and aspects batched through OPT."""

from __future__ import annotations

import bisect
import gc
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from analyzers.answers import clean_answer
from analyzers.base import Analyzer, AnalyzerConfig, FrameCaption, ProgressCallback
from analyzers.errors import AnalysisError, AnalyzerError
from analyzers.models.blip2.generation import prompt_input_ids, run_many, run_naive
from analyzers.models.blip2.loading import LoadedModel, load_blip2
from analyzers.models.blip2.prompts import ASPECT_PROMPTS, CAPTION_PROMPT
from analyzers.schema import ModelInfo

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


class Blip2Analyzer(Analyzer):
    """Salesforce BLIP-2 OPT, int8 by default; batching in analyzers.models.blip2.generation."""

    name = "blip2"

    def __init__(
        self,
        config: AnalyzerConfig,
        *,
        llm_int8_threshold: float = 6.0,
    ) -> None:
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
        return self.describe_many([(prepared, aspects)], progress)[0]

    def describe_many(
        self,
        items: Sequence[tuple[Any, Sequence[str]]],
        progress: ProgressCallback | None = None,
    ) -> list[list[FrameCaption]]:
        """describe() for several videos at once: their frame x prompt rows share generate()."""
        return self._run(items, progress, naive=False)

    def describe_naive(
        self,
        prepared: Any,
        aspects: Sequence[str],
        progress: ProgressCallback | None = None,
    ) -> list[FrameCaption]:
        """Reference path for tests and the benchmark: model.generate once per prompt."""
        return self._run([(prepared, aspects)], progress, naive=True)[0]

    def release_memory(self) -> None:
        gc.collect()
        if self._loaded is not None and self._loaded.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def _run(
        self,
        items: Sequence[tuple[Any, Sequence[str]]],
        progress: ProgressCallback | None,
        *,
        naive: bool,
    ) -> list[list[FrameCaption]]:
        # canonical names: AnalysisOptions resolved them at intake
        jobs = [(self._pixels(prepared), tuple(aspects)) for prepared, aspects in items]
        try:
            return self._retrying_smaller_batches(
                lambda batch_size: self._generate(jobs, progress, batch_size, naive=naive)
            )
        except AnalyzerError:
            raise
        except RuntimeError as exc:
            raise AnalysisError(f"BLIP-2 failed while describing frames: {exc}") from exc

    def _retrying_smaller_batches(self, generate: Callable[[int], _T]) -> _T:
        """generate(batch_size), halving the batch after each out-of-memory error, down to 1."""
        # A long video, long answers or another process on the GPU can exhaust its memory at
        # the configured batch size; fewer rows per call use less, and the answers are the
        # same. The job fails only when even one row at a time does not fit.
        first = batch_size = max(1, self.config.batch_size)
        while True:
            try:
                result = generate(batch_size)
            except (torch.OutOfMemoryError, MemoryError) as exc:
                if batch_size == 1:
                    raise AnalysisError(
                        "out of memory while describing frames, even one prompt at a time; "
                        "use a smaller model or quantization (TIKTOK_ANALYZER_QUANTIZATION=int8)"
                    ) from exc
                logger.warning(
                    "out of memory at batch size %d (%s); retrying with %d",
                    batch_size,
                    type(exc).__name__,
                    batch_size // 2,
                )
                batch_size //= 2
                self.release_memory()
                continue
            if batch_size < first:
                self.warn(
                    f"out of memory at batch size {first}: the frames were described with "
                    f"batch size {batch_size}; lower TIKTOK_ANALYZER_BATCH_SIZE to {batch_size} "
                    "to avoid the retries"
                )
            return result

    def _pixels(self, prepared: Any) -> torch.Tensor:
        if not isinstance(prepared, torch.Tensor) or prepared.ndim != 4:
            raise AnalysisError("describe() expects the tensor that preprocess() returned")
        return prepared

    def _generate(
        self,
        jobs: Sequence[tuple[torch.Tensor, tuple[str, ...]]],
        progress: ProgressCallback | None,
        batch_size: int,
        *,
        naive: bool,
    ) -> list[list[FrameCaption]]:
        loaded = self.loaded
        tokenizer = loaded.processor.tokenizer
        prompts = [[CAPTION_PROMPT, *(ASPECT_PROMPTS[name] for name in names)] for _, names in jobs]
        work = [
            (
                pixels.to(loaded.device, loaded.compute_dtype),
                [prompt_input_ids(tokenizer, p, loaded.spec) for p in texts],
            )
            for (pixels, _), texts in zip(jobs, prompts, strict=True)
            if pixels.shape[0] > 0
        ]
        kwargs: dict[str, Any] = {
            "batch_size": batch_size,
            "max_new_tokens": self.config.max_new_tokens,
        }
        on_batch = _frame_progress(progress, [(p.shape[0], len(s)) for p, s in work])
        with torch.no_grad():
            if naive:
                tokens = [run_naive(loaded.model, p, s, loaded.spec, **kwargs) for p, s in work]
                on_batch(sum(p.shape[0] * len(s) for p, s in work))
            else:
                tokens = run_many(loaded.model, work, loaded.spec, on_batch=on_batch, **kwargs)
        answers = iter(tokens)
        return [
            [self._to_caption(row, names, texts) for row in next(answers)]
            if pixels.shape[0] > 0
            else []
            for (pixels, names), texts in zip(jobs, prompts, strict=True)
        ]

    def _to_caption(
        self, row: list[list[int]], names: Sequence[str], prompts: list[str]
    ) -> FrameCaption:
        decode = self.loaded.processor.tokenizer.decode
        texts = [
            clean_answer(decode(ids, skip_special_tokens=True), prompt)
            for ids, prompt in zip(row, prompts, strict=True)
        ]
        return FrameCaption(caption=texts[0], aspects=dict(zip(names, texts[1:], strict=True)))


def _frame_progress(
    progress: ProgressCallback | None, shapes: Sequence[tuple[int, int]]
) -> Callable[[int], None]:
    """on_batch(rows done) -> progress(frames done, frames) over videos of (frames, prompts)."""
    ends: list[int] = []  # rows done when each frame of each video is complete
    for frames, prompts in shapes:
        start = ends[-1] if ends else 0
        ends.extend(start + prompts * (f + 1) for f in range(frames))

    def on_batch(rows_done: int) -> None:
        if progress is not None:
            progress(bisect.bisect_right(ends, rows_done), len(ends))

    return on_batch
