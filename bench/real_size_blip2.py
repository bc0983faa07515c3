"""BLIP-2 OPT-2.7b at its real size with random weights, built in memory: no download.

Timings stand for the real model's: the same layers, widths and token counts (ViT-g
vision tower, the real Q-Former, OPT-2.7b with its 50272-token head), with every answer
forced to exactly ``max_new_tokens`` new tokens (random weights would otherwise stop at
a random moment). The tokenizer and processor are the tiny test model's, with the real
image size (224) and query count (32); the text they produce is meaningless.
int8 mirrors transformers' LLM.int8 loading: every Linear but the Q-Former's and the
language model head becomes a bitsandbytes Linear8bitLt; the Q-Former stays fp32.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from analyzers.base import AnalyzerConfig
from analyzers.models.blip2.analyzer import Blip2Analyzer
from analyzers.models.blip2.generation import TokenSpec
from analyzers.models.blip2.loading import LoadedModel
from analyzers.schema import ModelInfo

#: OPT-2.7b, ViT-g (EVA-CLIP g/14 at 224 px) and the BLIP-2 Q-Former, as published
REAL_SIZES: dict[str, dict[str, Any]] = {
    "vision": {
        "hidden_size": 1408, "intermediate_size": 6144, "num_hidden_layers": 39,
        "num_attention_heads": 16, "image_size": 224, "patch_size": 14, "qkv_bias": True,
    },
    "qformer": {
        "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
        "num_attention_heads": 12, "cross_attention_frequency": 2, "encoder_hidden_size": 1408,
    },
    "text": {
        "hidden_size": 2560, "ffn_dim": 10240, "num_hidden_layers": 32,
        "num_attention_heads": 32, "vocab_size": 50272, "max_position_embeddings": 2048,
    },
    "num_query_tokens": 32,
}  # fmt: skip

#: the same shape in miniature, to check on a CPU that the script runs (--smoke)
SMOKE_SIZES: dict[str, dict[str, Any]] = {
    "vision": {
        "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "image_size": 56, "patch_size": 14, "qkv_bias": True,
    },
    "qformer": {
        "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "cross_attention_frequency": 2, "encoder_hidden_size": 64,
    },
    "text": {
        "hidden_size": 64, "ffn_dim": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "vocab_size": 50272, "max_position_embeddings": 512,
    },
    "num_query_tokens": 32,
}  # fmt: skip


class RealSizeBlip2(Blip2Analyzer):
    """Blip2Analyzer whose load() builds the random-weight model instead of reading one."""

    def __init__(self, config: AnalyzerConfig, sizes: dict[str, dict[str, Any]]) -> None:
        super().__init__(config)
        self.sizes = sizes

    def load(self) -> ModelInfo:
        self._loaded = build(self.config, self.sizes)
        params = sum(p.numel() for p in self._loaded.model.parameters())
        return ModelInfo(
            name=f"random-weight BLIP-2 OPT-2.7b-size ({params / 1e6:,.0f} M parameters)",
            analyzer=self.name,
            quantization=self.config.quantization,
            device=self._loaded.device,
            test_model=True,
        )


def _processor(sizes: dict[str, dict[str, Any]]) -> Any:
    from transformers import Blip2Processor

    from analyzers.testing.tiny_model import make_test_model

    with tempfile.TemporaryDirectory() as tmp:
        processor = Blip2Processor.from_pretrained(make_test_model(Path(tmp) / "tiny"))
    side = sizes["vision"]["image_size"]
    processor.image_processor.size = {"height": side, "width": side}
    processor.num_query_tokens = sizes["num_query_tokens"]
    return processor


def _config(sizes: dict[str, dict[str, Any]], tokenizer: Any, image_token_id: int) -> Any:
    from transformers import Blip2Config, Blip2QFormerConfig, Blip2VisionConfig, OPTConfig

    text = OPTConfig(
        **sizes["text"],
        word_embed_proj_dim=sizes["text"]["hidden_size"],
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return Blip2Config(
        vision_config=Blip2VisionConfig(**sizes["vision"]).to_dict(),
        qformer_config=Blip2QFormerConfig(**sizes["qformer"]).to_dict(),
        text_config=text.to_dict(),
        num_query_tokens=sizes["num_query_tokens"],
        image_token_index=image_token_id,
    )


def build(config: AnalyzerConfig, sizes: dict[str, dict[str, Any]]) -> LoadedModel:
    """The model on ``config.device`` in ``config.quantization``, ready for describe()."""
    from transformers import Blip2ForConditionalGeneration

    device = config.device
    quantization = config.quantization
    if device == "cpu" and quantization != "fp32":
        raise SystemExit("on the CPU (--smoke) use --quantization fp32: int8/fp16 need a GPU")
    processor = _processor(sizes)
    tokenizer = processor.tokenizer
    image_token_id = int(tokenizer.convert_tokens_to_ids(str(processor.image_token)))
    dtype = torch.float32 if quantization == "fp32" else torch.float16
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):  # initialised where it runs: seconds, not minutes
            model = Blip2ForConditionalGeneration(_config(sizes, tokenizer, image_token_id))
    finally:
        torch.set_default_dtype(default)
    model.eval()
    model.qformer.float()  # kept in fp32, as from_pretrained keeps it
    model.query_tokens.data = model.query_tokens.data.float()
    if quantization == "int8":
        _to_int8(model)
    for generation in (model.generation_config, model.language_model.generation_config):
        generation.min_new_tokens = config.max_new_tokens  # every answer its full length
    side = sizes["vision"]["image_size"]
    spec = TokenSpec(
        image_token_id=image_token_id,
        num_query_tokens=sizes["num_query_tokens"],
        pad_token_id=int(tokenizer.pad_token_id),
        eos_token_id=int(tokenizer.eos_token_id),
    )
    return LoadedModel(model, processor, device, dtype, spec, (side, side), test_model=True)


def _to_int8(model: Any, threshold: float = 6.0) -> None:
    """Every Linear outside the Q-Former and the LM head as a bitsandbytes Linear8bitLt."""
    import bitsandbytes as bnb

    targets = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
        and not name.startswith("qformer")
        and not name.endswith("lm_head")
    ]
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        device = linear.weight.device
        int8 = bnb.nn.Linear8bitLt(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            has_fp16_weights=False,
            threshold=threshold,
        )
        # Int8Params quantizes when moved from the CPU to the GPU.
        int8.weight = bnb.nn.Int8Params(
            linear.weight.data.cpu(), requires_grad=False, has_fp16_weights=False
        )
        if linear.bias is not None:
            int8.bias = torch.nn.Parameter(linear.bias.data, requires_grad=False)
        setattr(parent, child, int8.to(device))
    torch.cuda.empty_cache()
