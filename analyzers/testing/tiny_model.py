"""A tiny random-weight BLIP-2, built locally, that the real loading code can load.

Nothing here touches the network: the tokenizer is trained on a built-in corpus
with the ``tokenizers`` library and the weights are drawn from a seeded RNG, so
the same seed always gives byte-identical files. The text it generates is
meaningless; it exists so tests and demos exercise the real from_pretrained,
int8 and generate paths in well under a second.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analyzers.models.loading import TEST_MODEL_MARKER

#: special tokens, in id order; <image> is the placeholder Blip2Processor repeats per query
PAD, BOS, EOS, UNK, IMAGE = "<pad>", "<s>", "</s>", "<unk>", "<image>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK, IMAGE)

_VOCAB_SIZE = 700
_NUM_QUERY_TOKENS = 4
_MAX_POSITIONS = 512  # query tokens + longest prompt + max_new_tokens (settings allow 256)

# Enough everyday English that prompts and plausible answers tokenize into word-sized pieces.
_WORDS = """
a an the this that these those there here is are was were be been being has have had do does
did what which who whom whose where when why how in on at of to from with without by for about
into onto over under above below behind between near inside outside up down left right top
bottom front back side middle center man woman men women boy girl child children baby person
people group crowd friend family couple dancer singer player teacher student cook chef
he she they it his her their its one two three four five many some several few all no
sitting standing walking running dancing jumping talking singing eating drinking cooking
smiling laughing holding wearing looking playing posing pointing waving driving riding
swimming reading writing showing making taking doing using filming recording lying
room kitchen bedroom bathroom living office street road city park beach sea ocean lake river
mountain forest field garden yard car bus train plane house building shop store restaurant
cafe gym stage studio classroom school church bridge sky sun cloud rain snow night day
indoor outdoor indoors outdoors home table chair couch sofa bed desk door window wall floor
ceiling lamp light phone camera laptop computer screen television book cup glass bottle
plate bowl food pizza cake coffee water dog cat bird horse ball hat shirt dress jacket
shoes glasses bag flower tree plant mirror sign poster logo picture photo image video frame
scene setting background foreground text words letters caption title subtitle says read
mood feeling happy sad calm excited funny serious cheerful relaxed energetic dramatic
romantic peaceful tense cozy dark bright warm cool soft harsh natural artificial colour
colors color red orange yellow green blue purple pink brown black white gray grey gold silver
style lighting light shadow vintage modern cinematic colorful pastel vivid muted neon
close-up closeup medium wide shot angle view selfie handheld static moving pan zoom tilt
tracking aerial overhead low high eye level camera lens focus blurry sharp vertical
horizontal portrait landscape kind type sort describe like look looks visible shown
and or but not very really just also only then than so because while as if
"""

_SENTENCES = (
    "a man dancing in a kitchen",
    "a woman sitting on a couch holding a phone",
    "two people walking on the beach at sunset",
    "a close-up of a girl smiling at the camera",
    "a cat lying on a bed in a bright room",
    "the text says follow for more",
    "a wide shot of a city street at night",
    "warm natural lighting with soft colors",
    "the mood is happy and relaxed",
    "a handheld selfie video filmed indoors",
)


def tokenizer_corpus() -> list[str]:
    """The lines the tiny tokenizers are trained on: every prompt and the test sentences."""
    from analyzers.models.blip2.prompts import ASPECT_PROMPTS, CAPTION_PROMPT

    lines = [CAPTION_PROMPT, *ASPECT_PROMPTS.values(), *_SENTENCES]
    words = _WORDS.split()
    # Words both alone and after a space, so byte-level BPE learns the " word" pieces too.
    lines += [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    return [line for line in lines if line] * 3


def train_tokenizer(
    corpus: list[str], specials: Sequence[str], *, vocab_size: int, add_bos: str = "", **roles: str
) -> Any:
    """Byte-level BPE trained on ``corpus``, wrapped as a left-padding transformers fast tokenizer.

    ``specials`` get the first ids, in order; ``add_bos`` (one of them) goes before every
    text, as OPT's and Llama's tokenizers put BOS; ``roles`` are bos_token=..., eos_token=...
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(corpus, trainer)
    if add_bos:
        backend.post_processor = processors.TemplateProcessing(
            single=f"{add_bos} $A",
            pair=f"{add_bos} $A {add_bos} $B",
            special_tokens=[(add_bos, backend.token_to_id(add_bos))],
        )
    return PreTrainedTokenizerFast(tokenizer_object=backend, padding_side="left", **roles)


def write_test_marker(out_dir: Path, note: str, **fields: Any) -> None:
    """The marker file that makes is_test_model() true: what built the model, and with what."""
    marker = {"test_model": True, "note": note, **fields}
    (out_dir / TEST_MODEL_MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")


def _sizes(large_vision: bool) -> dict[str, Any]:
    qformer = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
    qformer |= {"num_attention_heads": 2, "cross_attention_frequency": 1}
    if large_vision:
        # One image through the vision tower costs a few times one (image, prompt) row of
        # generation, as ViT-g (1B params, 257 tokens) does beside OPT-2.7b; measured on one
        # CPU thread: ~10 ms per image against ~4 ms per generated row (24 new tokens).
        vision = {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 6}
        vision |= {"num_attention_heads": 4, "image_size": 64, "patch_size": 8}
        text = {"hidden_size": 128, "ffn_dim": 512, "num_hidden_layers": 4}
    else:
        vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
        vision |= {"num_attention_heads": 2, "image_size": 32, "patch_size": 8}
        text = {"hidden_size": 64, "ffn_dim": 128, "num_hidden_layers": 2}
    text |= {"num_attention_heads": 4}
    return {"vision": vision, "qformer": qformer, "text": text}


def _make_config(vocab_size: int, image_token_id: int, sizes: dict[str, Any]) -> Any:
    from transformers import Blip2Config, Blip2QFormerConfig, Blip2VisionConfig, OPTConfig

    # The stock vision initializer_range (1e-10) would make every image look the same.
    vision = Blip2VisionConfig(**sizes["vision"], initializer_range=0.05)
    qformer = Blip2QFormerConfig(
        **sizes["qformer"], vocab_size=vocab_size, max_position_embeddings=64
    )
    text = OPTConfig(
        **sizes["text"],
        vocab_size=vocab_size,
        word_embed_proj_dim=sizes["text"]["hidden_size"],
        max_position_embeddings=_MAX_POSITIONS,
        # A wider init than OPT's 0.02 so answers vary with the image and the question.
        init_std=0.2,
        pad_token_id=SPECIAL_TOKENS.index(PAD),
        bos_token_id=SPECIAL_TOKENS.index(BOS),
        eos_token_id=SPECIAL_TOKENS.index(EOS),
    )
    return Blip2Config(
        vision_config=vision.to_dict(),
        qformer_config=qformer.to_dict(),
        text_config=text.to_dict(),
        num_query_tokens=_NUM_QUERY_TOKENS,
        image_token_index=image_token_id,
    )


def make_test_model(out_dir: Path, *, large_vision: bool = False, seed: int = 0) -> Path:
    """Write a tiny random BLIP-2 (weights, tokenizer, processor, marker) to out_dir."""
    import torch
    from transformers import Blip2ForConditionalGeneration, Blip2Processor, BlipImageProcessorPil

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # No image_token attribute: Blip2Processor (transformers 5.23) then registers "<image>"
    # itself as an AddedToken; it already exists here, so its id stays SPECIAL_TOKENS' index.
    tokenizer = train_tokenizer(
        tokenizer_corpus(),
        SPECIAL_TOKENS,
        vocab_size=_VOCAB_SIZE,
        add_bos=BOS,  # as OPT's tokenizer does
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
    )
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE)
    sizes = _sizes(large_vision)
    side = sizes["vision"]["image_size"]
    # The PIL processor: the default one needs torchvision, which this project does not install.
    image_processor = BlipImageProcessorPil(size={"height": side, "width": side})
    processor = Blip2Processor(
        image_processor=image_processor, tokenizer=tokenizer, num_query_tokens=_NUM_QUERY_TOKENS
    )
    config = _make_config(len(tokenizer), image_token_id, sizes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Blip2ForConditionalGeneration(config).eval()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a shard-writing bar for a 1 MB model is noise
    processor.save_pretrained(out_dir)
    model.save_pretrained(out_dir)
    write_test_marker(
        out_dir,
        "random weights built by analyzers.testing.tiny_model; generated text is meaningless",
        seed=seed,
        large_vision=large_vision,
        sizes=sizes,
        num_query_tokens=_NUM_QUERY_TOKENS,
        vocab_size=len(tokenizer),
    )
    return out_dir


def make_tiny_model(kind: str, out_dir: Path) -> Path:
    """Write the tiny random-weight model of ``kind`` (a key of TEST_MODEL_KINDS) to out_dir."""
    import importlib

    from analyzers.registry import TEST_MODEL_KINDS

    module_name, function_name = TEST_MODEL_KINDS[kind].split(":")
    builder = getattr(importlib.import_module(module_name), function_name)
    return Path(builder(Path(out_dir)))
