"""The transcription path of earlier releases (transformers Whisper), for timing only.

No real transformers Whisper weights are reachable here, so the old path runs Whisper
tiny.en's shape (4 + 4 layers, 384 wide, 51,864 tokens) with random weights: its words
mean nothing, its speed is the old path's. Each run generates exactly as many tokens
as faster-whisper wrote on the same audio, so both do the same amount of decoding.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from analyzers.media.single_pass import AUDIO_RATE

#: 30 s windows, as Whisper hears them
WINDOW_S = 30.0


def tiny_en_shaped(seed: int = 0) -> Any:
    """A transformers Whisper the size of tiny.en, random weights, CPU, fp32."""
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    config = WhisperConfig(
        vocab_size=51864, num_mel_bins=80, d_model=384, encoder_layers=4, decoder_layers=4,
        encoder_attention_heads=6, decoder_attention_heads=6, encoder_ffn_dim=1536,
        decoder_ffn_dim=1536, max_source_positions=1500, max_target_positions=448,
        decoder_start_token_id=50257, pad_token_id=50256, bos_token_id=50256,
        eos_token_id=50256,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return WhisperForConditionalGeneration(config).eval()


def old_path_seconds(model: Any, samples: np.ndarray, tokens: int) -> float:
    """Seconds for features and greedy generation of ``tokens`` tokens per 30 s window."""
    import torch
    from transformers import GenerationMixin, WhisperFeatureExtractor

    extractor = WhisperFeatureExtractor(feature_size=80)
    step = int(WINDOW_S * AUDIO_RATE)
    windows = [samples[i : i + step] for i in range(0, len(samples), step)]
    per_window = max(1, tokens // len(windows))
    began = time.perf_counter()
    features = extractor(windows, sampling_rate=AUDIO_RATE, return_tensors="pt").input_features
    start = torch.full((len(windows), 1), model.config.decoder_start_token_id)
    with torch.inference_mode():
        # The plain generation loop: Whisper's own generate() wants a real checkpoint's
        # tokenizer settings, and its extra logits processors cost little beside the model.
        GenerationMixin.generate(
            model, input_features=features, decoder_input_ids=start, do_sample=False,
            num_beams=1, max_new_tokens=per_window, min_new_tokens=per_window,
        )  # fmt: skip
    return time.perf_counter() - began
