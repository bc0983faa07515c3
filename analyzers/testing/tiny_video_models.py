"""Tiny random-weight video language models (Qwen2-VL, LLaVA-OneVision, LLaVA), built locally.

Each builder writes what the real loading code reads: a ``config.json`` with the
family's ``model_type`` (``qwen2_vl``, ``llava_onevision``, ``llava``), weights
from a seeded RNG, a byte-level BPE tokenizer trained here with ``tokenizers``,
and a processor with the family's chat template. Image processors are the PIL
ones, because the default (torchvision) ones cannot be built here. No video
processor is saved: the analyzer feeds sampled frames through the image
processor. The text these models generate is meaningless.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analyzers.testing.tiny_model import train_tokenizer, write_test_marker

_VOCAB_SIZE = 800
_MAX_POSITIONS = 4096

# Chat templates reduced from the families' real ones (same markers, same placeholder tokens).
QWEN2_VL_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

LLAVA_ONEVISION_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "<image>\n{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "<video>\n{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] }}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# LLaVA-1.5 / Vicuna style, as llava-hf ships it (AuroraCap's language model is Vicuna).
LLAVA_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "<image>\n{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' ' }}{% endfor %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

_QWEN_SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
_LLAVA_SPECIALS = ("<pad>", "<s>", "</s>", "<unk>", "<image>")
_ONEVISION_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>")


def _corpus() -> list[str]:
    from analyzers.models.video_llm.prompting import corpus_lines
    from analyzers.testing.tiny_model import tokenizer_corpus

    extra = ["system user assistant You are a helpful assistant.", *corpus_lines()]
    return tokenizer_corpus() + extra * 3


def _make_tokenizer(specials: tuple[str, ...], *, add_bos: str = "", **roles: str) -> Any:
    """A tokenizer trained on the prompts, the chat roles and the test sentences."""
    # add_bos: Llama/Vicuna tokenizers (LLaVA, AuroraCap) put BOS before every prompt.
    return train_tokenizer(_corpus(), specials, vocab_size=_VOCAB_SIZE, add_bos=add_bos, **roles)


def _write_marker(out_dir: Path, kind: str, seed: int, sizes: dict[str, Any]) -> None:
    note = "random weights (analyzers.testing.tiny_video_models); generated text is meaningless"
    write_test_marker(out_dir, note, kind=kind, seed=seed, sizes=sizes)


def _save_parts(out_dir: Path, tokenizer: Any, image_processor: Any, processor_class: str) -> None:
    """What a hub checkpoint holds when the processor itself cannot be built here.

    Qwen2VLProcessor and LlavaOnevisionProcessor insist on a video processor, which needs
    torchvision; their parts (tokenizer with the chat template, image processor naming the
    processor class) are what the hub checkpoints contain, and what the analyzer reads.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out_dir)
    image_processor.save_pretrained(out_dir)
    path = out_dir / "preprocessor_config.json"
    data = json.loads(path.read_text())
    data["processor_class"] = processor_class
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _save(out_dir: Path, processor: Any | None, config: Any, seed: int) -> None:
    import torch
    from transformers import AutoModelForImageTextToText
    from transformers.utils import logging as hf_logging

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(config).eval()
    hf_logging.disable_progress_bar()
    out_dir.mkdir(parents=True, exist_ok=True)
    if processor is not None:
        processor.save_pretrained(out_dir)
    model.save_pretrained(out_dir)


def _text_sizes() -> dict[str, Any]:
    # head_dim 16; wider init than the usual 0.02 so answers vary with the image and question.
    return {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": _MAX_POSITIONS,
        "initializer_range": 0.2,
    }


def make_qwen2_vl(out_dir: Path, *, seed: int = 0, version: str = "2") -> Path:
    """Write a tiny random Qwen2-VL (model_type qwen2_vl; version "2.5": qwen2_5_vl)."""
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig, Qwen2VLImageProcessorPil

    out_dir = Path(out_dir)
    tokenizer = _make_tokenizer(_QWEN_SPECIALS, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in _QWEN_SPECIALS}
    patch, merge = 8, 2
    # 64x64 pixels at most: an 8x8 patch grid, 16 visual tokens per frame after the 2x2 merger.
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=patch,
        merge_size=merge,
        temporal_patch_size=2,
        size={"shortest_edge": 16 * 16, "longest_edge": 64 * 64},
    )
    tokenizer.chat_template = QWEN2_VL_TEMPLATE
    _save_parts(out_dir, tokenizer, image_processor, "Qwen2VLProcessor")
    text = _text_sizes() | {"vocab_size": len(tokenizer)}
    text |= {"rope_parameters": {"rope_type": "default", "mrope_section": [2, 3, 3]}}
    text |= {"bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"]}
    text |= {"pad_token_id": ids["<|endoftext|>"]}
    vision: dict[str, Any] = {"depth": 2, "num_heads": 2, "patch_size": patch}
    vision |= {"spatial_merge_size": merge, "temporal_patch_size": 2, "initializer_range": 0.05}
    if version == "2.5":
        # Window attention over 2x2 merged cells; the last block attends over the whole frame.
        vision |= {"hidden_size": 32, "intermediate_size": 64, "out_hidden_size": 64}
        vision |= {"window_size": 2 * patch * merge, "fullatt_block_indexes": [1]}
        config_class: Any = Qwen2_5_VLConfig
    else:
        vision |= {"embed_dim": 32, "mlp_ratio": 2, "hidden_size": text["hidden_size"]}
        config_class = Qwen2VLConfig
    config = config_class(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    _save(out_dir, None, config, seed)
    _write_marker(out_dir, f"qwen{version}-vl", seed, {"text": text, "vision": vision})
    return out_dir


def make_qwen2_5_vl(out_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random Qwen2.5-VL (model_type qwen2_5_vl)."""
    return make_qwen2_vl(out_dir, seed=seed, version="2.5")


def _siglip_vision(image_size: int, patch: int) -> dict[str, Any]:
    return {
        "model_type": "siglip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": image_size,
        "patch_size": patch,
    }


def make_llava_onevision(out_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random LLaVA-OneVision (model_type llava_onevision), SigLIP + Qwen2."""
    from transformers import LlavaOnevisionConfig, LlavaOnevisionImageProcessorPil

    out_dir = Path(out_dir)
    tokenizer = _make_tokenizer(
        _ONEVISION_SPECIALS, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in _ONEVISION_SPECIALS}
    side, patch = 64, 8  # 8x8 patches, pooled 2x2 for video frames: 16 tokens per frame
    image_processor = LlavaOnevisionImageProcessorPil(
        size={"height": side, "width": side},
        image_grid_pinpoints=[[side, side], [side, 2 * side], [2 * side, side]],
    )
    tokenizer.chat_template = LLAVA_ONEVISION_TEMPLATE
    _save_parts(out_dir, tokenizer, image_processor, "LlavaOnevisionProcessor")
    text = _text_sizes() | {"vocab_size": len(tokenizer), "model_type": "qwen2"}
    text |= {"pad_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"]}
    vision = _siglip_vision(side, patch)
    config = LlavaOnevisionConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<image>"],
        video_token_id=ids["<video>"],
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_grid_pinpoints=image_processor.image_grid_pinpoints,
    )
    _save(out_dir, None, config, seed)
    _write_marker(out_dir, "llava-onevision", seed, {"text": text, "vision": vision})
    return out_dir


def make_llava(out_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random LLaVA-1.5 (model_type llava): CLIP vision + Llama, as AuroraCap."""
    from transformers import CLIPImageProcessorPil, LlavaConfig, LlavaProcessor

    out_dir = Path(out_dir)
    tokenizer = _make_tokenizer(
        _LLAVA_SPECIALS,
        add_bos="<s>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in _LLAVA_SPECIALS}
    side, patch = 32, 8  # CLS + 4x4 patches; "default" drops CLS: 16 tokens per frame
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": side}, crop_size={"height": side, "width": side}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_TEMPLATE,
    )
    text = _text_sizes() | {"vocab_size": len(tokenizer), "model_type": "llama"}
    text |= {"pad_token_id": ids["<pad>"], "bos_token_id": ids["<s>"], "eos_token_id": ids["</s>"]}
    vision = {
        "model_type": "clip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": side,
        "patch_size": patch,
        "projection_dim": 32,
    }
    config = LlavaConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    _save(out_dir, processor, config, seed)
    _write_marker(out_dir, "llava", seed, {"text": text, "vision": vision})
    return out_dir
