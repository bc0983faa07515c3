"""Loading BLIP-2 from a hub id or a directory, with one clear error per wrong setting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from analyzers.base import AnalyzerConfig
from analyzers.errors import ModelLoadError
from analyzers.models.blip2.generation import TokenSpec
from analyzers.models.loading import load_cache_first, prepare_load

_MODEL_HINT = "set TIKTOK_ANALYZER_MODEL (or --model) to a local BLIP-2 directory or a hub id"


@dataclass(frozen=True)
class LoadedModel:
    """Everything describe() needs, read once at load time."""

    model: Any
    processor: Any
    device: str
    compute_dtype: torch.dtype
    spec: TokenSpec
    #: (width, height) the image processor resizes to
    image_size: tuple[int, int]
    test_model: bool


def _from_pretrained(source: str, kwargs: dict[str, Any], cache_only: bool) -> tuple[Any, Any]:
    from transformers import Blip2ForConditionalGeneration, Blip2Processor

    processor = Blip2Processor.from_pretrained(source, local_files_only=cache_only)
    model = Blip2ForConditionalGeneration.from_pretrained(
        source, local_files_only=cache_only, **kwargs
    )
    return processor, model.eval()


def _token_spec(model: Any, processor: Any, config: AnalyzerConfig) -> TokenSpec:
    tokenizer = processor.tokenizer
    image_token_id = model.config.image_token_index
    num_query = model.config.num_query_tokens
    processor_image_id = tokenizer.convert_tokens_to_ids(str(processor.image_token))
    if image_token_id is None or processor_image_id != image_token_id:
        raise ModelLoadError(
            f"model {config.model!r}: the processor's image token ({processor_image_id}) does "
            f"not match the model's image_token_index ({image_token_id}); {_MODEL_HINT}"
        )
    if processor.num_query_tokens not in (None, num_query):
        raise ModelLoadError(
            f"model {config.model!r}: processor num_query_tokens {processor.num_query_tokens} "
            f"!= model {num_query}; {_MODEL_HINT}"
        )
    pad = tokenizer.pad_token_id
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ModelLoadError(f"model {config.model!r}: tokenizer has no EOS token; {_MODEL_HINT}")
    return TokenSpec(
        image_token_id=int(image_token_id),
        num_query_tokens=int(num_query),
        pad_token_id=int(pad if pad is not None else eos),
        eos_token_id=int(eos),
    )


def load_blip2(config: AnalyzerConfig, *, llm_int8_threshold: float = 6.0) -> LoadedModel:
    """Load processor and model as the config says, or raise ModelLoadError naming the setting."""
    plan = prepare_load(config, hint=_MODEL_HINT, llm_int8_threshold=llm_int8_threshold)
    processor, model = load_cache_first(
        lambda cache_only: _from_pretrained(plan.source, plan.kwargs, cache_only),
        plan,
        config,
        what="BLIP-2",
        hint=_MODEL_HINT,
    )
    size = processor.image_processor.size
    return LoadedModel(
        model=model,
        processor=processor,
        device=plan.device,
        compute_dtype=plan.dtype,
        spec=_token_spec(model, processor, config),
        image_size=(int(size["width"]), int(size["height"])),
        test_model=plan.test_model,
    )
