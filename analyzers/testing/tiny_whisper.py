"""A tiny random-weight Whisper, built locally, that the real loading code can load.

Same idea as :mod:`analyzers.testing.tiny_model`: a byte-level BPE trained on a built-in
corpus with ``tokenizers``, Whisper's special tokens in Whisper's order (so
language detection, task tokens and timestamp tokens work as in a real
checkpoint), a feature extractor with the real 80-mel, 30 s settings, and
weights from a seeded RNG. What it transcribes is meaningless; it exists so
tests run the real from_pretrained, language detection and timestamped
generation in well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analyzers.testing.tiny_model import write_test_marker

_VOCAB_SIZE = 400
#: timestamp tokens <|0.00|> ... <|30.00|>, one per 20 ms, as every Whisper checkpoint has
_TIMESTAMPS = 1501
_CORPUS = (
    "hello and welcome back to my channel today we are going to cook something",
    "follow for more and like this video if you want part two",
    "this is the best thing I have ever tried you have to see it",
    "okay so first you take the pan and then you add some oil",
    "one two three four five six seven eight nine ten",
    "what do you think about this let me know in the comments",
)


def _special_tokens() -> list[str]:
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    # Whisper's own order: the ids of language and task tokens follow <|startoftranscript|>.
    langs = [f"<|{code}|>" for code in LANGUAGES]
    return [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *langs,
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nospeech|>",
        "<|notimestamps|>",
    ]


def _make_tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import AddedToken, WhisperTokenizer

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=_VOCAB_SIZE,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(list(_CORPUS) * 4, trainer)
    model = json.loads(backend.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    specials = _special_tokens()
    tokenizer = WhisperTokenizer(
        vocab=model["vocab"], merges=merges, additional_special_tokens=specials[1:]
    )
    tokenizer.add_special_tokens({"eos_token": specials[0]})
    # Timestamps come right after the last special token and are not special themselves:
    # the tokenizer finds them as ids above all_special_ids[-1].
    tokenizer.add_tokens(
        [AddedToken(f"<|{i * 0.02:.2f}|>", special=False) for i in range(_TIMESTAMPS)]
    )
    return tokenizer


def _generation_config(tokenizer: Any, max_target_positions: int) -> Any:
    from transformers import GenerationConfig
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    ids = tokenizer.convert_tokens_to_ids
    eot = ids("<|endoftext|>")
    return GenerationConfig(
        decoder_start_token_id=ids("<|startoftranscript|>"),
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        max_length=max_target_positions,
        is_multilingual=True,
        lang_to_id={f"<|{code}|>": ids(f"<|{code}|>") for code in LANGUAGES},
        task_to_id={"transcribe": ids("<|transcribe|>"), "translate": ids("<|translate|>")},
        no_timestamps_token_id=ids("<|notimestamps|>"),
        prev_sot_token_id=ids("<|startofprev|>"),
        max_initial_timestamp_index=50,
        begin_suppress_tokens=[eot],
        suppress_tokens=[],
        return_timestamps=False,
    )


def make_tiny_whisper(out_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random Whisper (weights, tokenizer, feature extractor, marker) to out_dir."""
    import torch
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )
    from transformers.utils import logging as hf_logging

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = _make_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    eot = ids("<|endoftext|>")
    # Short outputs: random weights never say <|endoftext|>, so every window runs to the cap.
    max_target = 64
    # 80 mels over 30 s (3000 frames) as whisper-small; the conv stride halves it to 1500.
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=1500,
        max_target_positions=max_target,
        decoder_start_token_id=ids("<|startoftranscript|>"),
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        begin_suppress_tokens=[eot],
        suppress_tokens=[],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = _generation_config(tokenizer, max_target)
    processor = WhisperProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer
    )
    hf_logging.disable_progress_bar()
    processor.save_pretrained(out_dir)
    model.save_pretrained(out_dir)
    write_test_marker(
        out_dir,
        "random weights built by analyzers.testing.tiny_whisper; transcripts are meaningless",
        kind="whisper",
        seed=seed,
        vocab_size=len(tokenizer),
    )
    return out_dir
