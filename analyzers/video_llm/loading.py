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
from analyzers.model_loading import (
    LOAD_ERRORS,
    from_pretrained_kwargs,
    load_error,
    looks_like_path,
    require_hub_reachable,
    resolve_device,
)
from analyzers.tiny_model import is_test_model
from analyzers.video_llm.families import Family, family_for

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
    from analyzers.video_llm.prompting import chat_messages

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


def _load_pretrained(
    source: str, kwargs: dict[str, Any], local: bool, config: AnalyzerConfig
) -> tuple[_Parts, Any, Family]:
    try:
        try:
            # The hub cache first, as for BLIP-2: no minutes of retries when the hub is away.
            return _from_pretrained(source, kwargs, True, config.model)
        except OSError:
            if local:
                raise
        try:
            require_hub_reachable(config.model, what="video LLM", hint=MODEL_HINT)
        except ModelLoadError as exc:
            raise ModelLoadError(
                f"cannot download video LLM {config.model!r}: the hub is unreachable "
                f"({exc.__cause__}) and the model is not in the local cache; download it on a "
                f"connected machine, or {MODEL_HINT}"
            ) from exc
        return _from_pretrained(source, kwargs, False, config.model)
    except LOAD_ERRORS as exc:
        raise load_error("video LLM", config, exc, local=local, hint=MODEL_HINT) from exc


def load_video_llm(config: AnalyzerConfig) -> LoadedVideoLLM:
    """Load the model and its processor parts, or raise ModelLoadError naming the setting."""
    path = Path(config.model).expanduser()
    local = path.is_dir()
    if not local and (path.exists() or looks_like_path(config.model)):
        what = "is not a directory" if path.exists() else "does not exist"
        raise ModelLoadError(
            f"model directory {config.model!r} ({path.resolve()}) {what}; {MODEL_HINT}"
        )
    device = resolve_device(config.device)
    kwargs, dtype = from_pretrained_kwargs(config, device, llm_int8_threshold=6.0)
    logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    source = str(path) if local else config.model
    parts, model, family = _load_pretrained(source, kwargs, local, config)
    loaded = LoadedVideoLLM(
        model=model,
        tokenizer=parts.tokenizer,
        image_processor=parts.image_processor,
        chat_template=parts.chat_template,
        family=family,
        device=device,
        compute_dtype=dtype,
        test_model=local and is_test_model(path),
    )
    _check_template(loaded, config.model)
    return loaded
