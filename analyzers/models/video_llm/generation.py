"""Prompts with merged visual tokens through generate(): vision once per video, prompts batched.

The visual tokens are computed once per video and written over the placeholder
tokens of every prompt row (left-padded batch), as the models' own forward does
with ``masked_scatter``; Qwen2-VL rows also carry their M-RoPE positions, built
for the merged tokens. With nothing merged, the rows, embeddings and positions
are exactly what the stock processor + ``model.generate`` would use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from analyzers.models.batching import chunks, left_pad
from analyzers.models.video_llm.families import EncodedVideo, FrameTokens
from analyzers.models.video_llm.loading import LoadedVideoLLM
from analyzers.models.video_llm.merging import merge_tokens
from analyzers.models.video_llm.prompting import chat_messages

#: instruction-tuned models rarely loop, but a mild penalty stops the rare 3-word cycle
REPETITION_PENALTY = 1.05


@dataclass(frozen=True)
class GenerationSpec:
    """Token ids generation needs, read once from the loaded model and tokenizer."""

    pad_token_id: int
    eos_token_ids: tuple[int, ...]
    suppress_token_ids: tuple[int, ...]

    def generate_kwargs(self, max_new_tokens: int) -> dict[str, Any]:
        """Greedy, and never emitting a visual placeholder or padding."""
        return {
            "max_new_tokens": max_new_tokens,
            "do_sample": False,
            "num_beams": 1,
            "repetition_penalty": REPETITION_PENALTY,
            "suppress_tokens": list(self.suppress_token_ids),
            "pad_token_id": self.pad_token_id,
            "eos_token_id": list(self.eos_token_ids),
        }


def generation_spec(loaded: LoadedVideoLLM) -> GenerationSpec:
    """EOS ids from the tokenizer and the generation config, padding, tokens never to emit."""
    tokenizer = loaded.tokenizer
    eos: list[int] = []
    configured = getattr(loaded.model.generation_config, "eos_token_id", None)
    for value in (tokenizer.eos_token_id, configured):
        for token in value if isinstance(value, list) else [value]:
            if token is not None and int(token) not in eos:
                eos.append(int(token))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    suppress = {loaded.family.placeholder_id, int(pad)}
    for name in ("image_token_id", "video_token_id"):
        if getattr(loaded.model.config, name, None) is not None:
            suppress.add(int(getattr(loaded.model.config, name)))
    return GenerationSpec(int(pad), tuple(eos), tuple(sorted(suppress - set(eos))))


def merge_video(video: EncodedVideo, ratio: float) -> EncodedVideo:
    """Each frame merged to its share of tokens; M-RoPE offsets follow the surviving tokens."""
    frames = []
    for frame in video.frames:
        merged = merge_tokens(frame.features, ratio)
        coords = None if frame.coords is None else frame.coords[:, merged.source_index]
        frames.append(FrameTokens(merged.features, coords, frame.span))
    return EncodedVideo(frames, video.trailer)


def visual_sequence(video: EncodedVideo) -> torch.Tensor:
    """The tokens written over a prompt's placeholders, in order."""
    parts = [f.features for f in video.frames]
    if video.trailer is not None:
        parts.append(video.trailer)
    return torch.cat(parts, dim=0)


def prompt_text(loaded: LoadedVideoLLM, frames: int, instruction: str, question: str) -> str:
    """The chat-templated prompt, one placeholder per frame (one for a whole video)."""
    messages = chat_messages(loaded.family.visual_content(frames), instruction, question)
    return str(
        loaded.tokenizer.apply_chat_template(
            messages, chat_template=loaded.chat_template, tokenize=False, add_generation_prompt=True
        )
    )


def prompt_ids(loaded: LoadedVideoLLM, frames: int, instruction: str, question: str) -> list[int]:
    """prompt_text tokenized as the processor does it (special tokens such as BOS included)."""
    return list(loaded.tokenizer(prompt_text(loaded, frames, instruction, question))["input_ids"])


@dataclass(frozen=True)
class PromptRow:
    """One prompt with its placeholders expanded to the (merged) visual token counts."""

    ids: list[int]
    positions: torch.Tensor | None  # (3, len(ids)) for M-RoPE families


def build_row(loaded: LoadedVideoLLM, video: EncodedVideo, ids: Sequence[int]) -> PromptRow:
    expanded = loaded.family.expand(ids, [f.features.shape[0] for f in video.frames])
    return PromptRow(expanded, loaded.family.positions(expanded, video))


def _batch_positions(rows: Sequence[PromptRow], mask: torch.Tensor) -> torch.Tensor:
    """(4, batch, width): text positions first, then M-RoPE, as Qwen2-VL's generate builds them."""
    width = mask.shape[1]
    text = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
    mrope = torch.zeros((3, len(rows), width), dtype=torch.long)
    for b, row in enumerate(rows):
        assert row.positions is not None
        mrope[:, b, width - len(row.ids) :] = row.positions
    return torch.cat([text.unsqueeze(0), mrope], dim=0)


def generate_rows(
    loaded: LoadedVideoLLM,
    visual: torch.Tensor,
    rows: Sequence[PromptRow],
    spec: GenerationSpec,
    *,
    batch_size: int,
    max_new_tokens: int,
    on_batch: Callable[[int], None] | None = None,
) -> list[list[int]]:
    """New token ids for every row, ``batch_size`` rows per generate() call."""
    model = loaded.model
    answers: list[list[int]] = []
    for batch in chunks(rows, batch_size):
        ids, mask = left_pad([r.ids for r in batch], spec.pad_token_id)
        kwargs: dict[str, Any] = {}
        if batch[0].positions is not None:
            kwargs["position_ids"] = _batch_positions(batch, mask).to(model.device)
        ids, mask = ids.to(model.device), mask.to(model.device)
        embeds = model.get_input_embeddings()(ids)
        placeholders = (ids == loaded.family.placeholder_id).unsqueeze(-1)
        fill = visual.to(embeds.device, embeds.dtype).repeat(len(batch), 1)
        embeds = embeds.masked_scatter(placeholders, fill)
        out = model.generate(
            input_ids=ids,
            inputs_embeds=embeds,
            attention_mask=mask,
            **kwargs,
            **spec.generate_kwargs(max_new_tokens),
        )
        answers.extend(row[ids.shape[1] :].tolist() for row in out)
        if on_batch is not None:
            on_batch(len(answers))
    return answers
