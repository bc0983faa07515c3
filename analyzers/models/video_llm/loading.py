"""Loading a video LLM through AutoModelForImageTextToText, with BLIP-2's settings and errors."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from analyzers.base import AnalyzerConfig
from analyzers.errors import ModelLoadError
from analyzers.models.loading import load_cache_first, prepare_load
from analyzers.models.video_llm.families import Family, family_for

logger = logging.getLogger(__name__)

MODEL_HINT = (
    "set TIKTOK_ANALYZER_MODEL (or --model) to a local Qwen2-VL, Qwen2.5-VL, LLaVA-OneVision "
    "or LLaVA directory or a hub id"
)


@dataclass(frozen=True)
class LoadedVideoLLM:
    """Everything the analyzer needs, read once at load time."""

    model: Any
    tokenizer: Any
    image_processor: Any
    chat_template: str
    family: Family
    device: str
    compute_dtype: torch.dtype
    test_model: bool


@dataclass(frozen=True)
class _Parts:
    tokenizer: Any
    image_processor: Any
    chat_template: str


def _processor_parts(source: str, cache_only: bool) -> _Parts:
    """Tokenizer, image processor and chat template; without AutoProcessor when it cannot build.

    Qwen2-VL's and LLaVA-OneVision's processors insist on their video processor, which needs
    torchvision (not installable beside the pinned CPU torch). Only the parts are needed: the
    frames go through the image processor's PIL path.
    """
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    try:
        processor = AutoProcessor.from_pretrained(source, local_files_only=cache_only)
        tokenizer, image_processor = processor.tokenizer, processor.image_processor
        template = getattr(processor, "chat_template", None) or tokenizer.chat_template
    except ImportError as exc:
        logger.info("no full processor (%s); using the tokenizer and image processor", exc)
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=cache_only)
        image_processor = AutoImageProcessor.from_pretrained(source, local_files_only=cache_only)
        # The processor's template places the images; a tokenizer's may be text-only.
        template = _processor_template(source, cache_only) or tokenizer.chat_template
    if not template:
        raise ModelLoadError(f"model {source!r} has no chat template; {MODEL_HINT}")
    return _Parts(tokenizer, image_processor, str(template))


def _processor_template(source: str, cache_only: bool) -> str | None:
    """The chat template a processor would use, from chat_template.jinja or .json, if present."""
    from transformers.utils.hub import cached_file

    for name in ("chat_template.jinja", "chat_template.json"):
        path = cached_file(
            source,
            name,
            local_files_only=cache_only,
            _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False,
        )
        if path:
            text = Path(path).read_text()
            return str(json.loads(text)["chat_template"]) if name.endswith(".json") else text
    return None


def _check_template(loaded: LoadedVideoLLM, model_name: str) -> None:
    """A prompt for two frames must carry the family's frame placeholders, or nothing works."""
    from analyzers.models.video_llm.prompting import chat_messages

    messages = chat_messages(loaded.family.visual_content(2), "", "?")
    try:
        text = loaded.tokenizer.apply_chat_template(
            messages, chat_template=loaded.chat_template, tokenize=False, add_generation_prompt=True
        )
        ids = list(loaded.tokenizer(str(text))["input_ids"])
        loaded.family.expand(ids, [1, 1])
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelLoadError(
            f"model {model_name!r}: its chat template does not place the frames ({exc}); "
            f"{MODEL_HINT}"
        ) from exc


def _from_pretrained(
    source: str, kwargs: dict[str, Any], cache_only: bool, name: str
) -> tuple[_Parts, Any, Family]:
    from transformers import AutoConfig, AutoModelForImageTextToText

    # The family first: a model of another kind is refused before its weights are read.
    family = family_for(AutoConfig.from_pretrained(source, local_files_only=cache_only), name)
    parts = _processor_parts(source, cache_only)
    model = AutoModelForImageTextToText.from_pretrained(
        source, local_files_only=cache_only, **kwargs
    )
    return parts, model.eval(), family


def load_video_llm(config: AnalyzerConfig) -> LoadedVideoLLM:
    """Load the model and its processor parts, or raise ModelLoadError naming the setting."""
    plan = prepare_load(config, hint=MODEL_HINT)
    parts, model, family = load_cache_first(
        lambda cache_only: _from_pretrained(plan.source, plan.kwargs, cache_only, config.model),
        plan,
        config,
        what="video LLM",
        hint=MODEL_HINT,
    )
    loaded = LoadedVideoLLM(
        model=model,
        tokenizer=parts.tokenizer,
        image_processor=parts.image_processor,
        chat_template=parts.chat_template,
        family=family,
        device=plan.device,
        compute_dtype=plan.dtype,
        test_model=plan.test_model,
    )
    _check_template(loaded, config.model)
    return loaded
