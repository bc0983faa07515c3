"""BLIP-2 generation: the vision-once batched path and the naive per-prompt reference path.

The vision-once path mirrors what ``Blip2ForConditionalGeneration.generate``
(transformers 5.x) does internally: vision encoder, Q-Former on the learned
query tokens, language projection, then the projected queries written over the
``image_token_index`` placeholders of ``[<image> x num_query_tokens] + tokenizer(prompt)``
(the tokenizer adds BOS) and ``language_model.generate(input_ids=..., inputs_embeds=...)``.
input_ids are passed along as generate() does, so n-gram and repetition guards
see the same history in both paths. The difference is only that the projected
queries are computed once per frame and reused for every prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from analyzers.models.batching import chunks, left_pad

#: OPT-2.7b loops on short phrases without a guard; 3-gram blocking is the usual BLIP-2 choice.
NO_REPEAT_NGRAM_SIZE = 3


@dataclass(frozen=True)
class TokenSpec:
    """The token ids generation needs, read once from the loaded model and processor."""

    image_token_id: int
    num_query_tokens: int
    pad_token_id: int
    eos_token_id: int

    def generate_kwargs(self, max_new_tokens: int) -> dict[str, Any]:
        """Greedy, guarded, and never emitting the image placeholder or padding."""
        return {
            "max_new_tokens": max_new_tokens,
            "do_sample": False,
            "num_beams": 1,
            "no_repeat_ngram_size": NO_REPEAT_NGRAM_SIZE,
            "suppress_tokens": sorted({self.image_token_id, self.pad_token_id}),
            "pad_token_id": self.pad_token_id,
            "eos_token_id": self.eos_token_id,
        }


def encode_images(model: Any, pixel_values: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Projected Q-Former query embeddings, (frames, num_query_tokens, lm_hidden)."""
    outputs = []
    for start in range(0, pixel_values.shape[0], max(1, batch_size)):
        chunk = pixel_values[start : start + max(1, batch_size)]
        # Same steps, same order as Blip2ForConditionalGeneration.generate.
        image_embeds = model.vision_model(chunk, return_dict=True).last_hidden_state
        image_mask = torch.ones(
            image_embeds.size()[:-1], dtype=torch.long, device=image_embeds.device
        )
        query_tokens = model.query_tokens.expand(image_embeds.shape[0], -1, -1)
        query_output = model.qformer(
            query_embeds=query_tokens,
            encoder_hidden_states=image_embeds,
            encoder_attention_mask=image_mask,
            return_dict=True,
        ).last_hidden_state
        # The Q-Former is kept in fp32; generate() casts back before projecting.
        if query_output.dtype != image_embeds.dtype:
            query_output = query_output.to(image_embeds.dtype)
        outputs.append(model.language_projection(query_output))
    return torch.cat(outputs, dim=0)


def prompt_input_ids(tokenizer: Any, prompt: str, spec: TokenSpec) -> list[int]:
    """What Blip2Processor builds for one prompt: image placeholders, then BOS + prompt."""
    text_ids = list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
    return [spec.image_token_id] * spec.num_query_tokens + text_ids


def generate_from_queries(
    model: Any,
    queries: torch.Tensor,
    sequences: Sequence[Sequence[int]],
    spec: TokenSpec,
    max_new_tokens: int,
) -> list[list[int]]:
    """One language-model generate() over rows of (frame queries, prompt ids); new tokens only."""
    device = queries.device
    ids, mask = left_pad(sequences, spec.pad_token_id)
    ids, mask = ids.to(device), mask.to(device)
    embeds = model.get_input_embeddings()(ids)
    placeholders = (ids == spec.image_token_id).unsqueeze(-1)
    # masked_scatter fills placeholders row by row, so row i receives queries[i] in order.
    embeds = embeds.masked_scatter(placeholders, queries.to(embeds.device, embeds.dtype))
    out = model.language_model.generate(
        input_ids=ids,
        inputs_embeds=embeds,
        attention_mask=mask,
        **spec.generate_kwargs(max_new_tokens),
    )
    return [row[ids.shape[1] :].tolist() for row in out]


def generate_naive(
    model: Any,
    pixel_values: torch.Tensor,
    sequence: Sequence[int],
    spec: TokenSpec,
    max_new_tokens: int,
) -> list[list[int]]:
    """The stock path: model.generate(pixel_values, input_ids) for one prompt over frames."""
    ids = torch.tensor([list(sequence)] * pixel_values.shape[0], dtype=torch.long)
    ids = ids.to(pixel_values.device)
    out = model.generate(
        pixel_values=pixel_values,
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        **spec.generate_kwargs(max_new_tokens),
    )
    return [row[ids.shape[1] :].tolist() for row in out]


@dataclass(frozen=True)
class Row:
    """One (video, frame, prompt) triple to answer."""

    item: int
    frame: int
    prompt: int


def run_many(
    model: Any,
    items: Sequence[tuple[torch.Tensor, Sequence[Sequence[int]]]],
    spec: TokenSpec,
    *,
    batch_size: int,
    max_new_tokens: int,
    on_batch: Callable[[int], None] | None = None,
) -> list[list[list[list[int]]]]:
    """New tokens for every video x frame x prompt: [video][frame][prompt] -> ids.

    Vision runs once per frame, whatever the number of prompts. Rows of consecutive videos
    fill the same generate() calls up to ``batch_size``, so a few short videos keep a GPU as
    busy as one long one; each row's answer is the one it gets alone (greedy decoding, left
    padding).
    """
    queries = [encode_images(model, pixels, batch_size) for pixels, _ in items]
    # Video- then frame-major, so frames finish in order and progress counts whole frames.
    rows = [
        Row(v, f, p)
        for v, (_, sequences) in enumerate(items)
        for f in range(queries[v].shape[0])
        for p in range(len(sequences))
    ]
    answers: list[list[list[list[int]]]] = [
        [[[] for _ in sequences] for _ in range(q.shape[0])]
        for q, (_, sequences) in zip(queries, items, strict=True)
    ]
    done = 0
    for batch in chunks(rows, batch_size):
        batch_queries = torch.cat([queries[r.item][r.frame : r.frame + 1] for r in batch])
        new_tokens = generate_from_queries(
            model,
            batch_queries,
            [items[r.item][1][r.prompt] for r in batch],
            spec,
            max_new_tokens,
        )
        for row, tokens in zip(batch, new_tokens, strict=True):
            answers[row.item][row.frame][row.prompt] = tokens
        done += len(batch)
        if on_batch is not None:
            on_batch(done)
    return answers


def run_naive(
    model: Any,
    pixel_values: torch.Tensor,
    sequences: Sequence[Sequence[int]],
    spec: TokenSpec,
    *,
    batch_size: int,
    max_new_tokens: int,
) -> list[list[list[int]]]:
    """Reference: one model.generate per prompt and frame chunk, so vision reruns per prompt."""
    frames = pixel_values.shape[0]
    answers: list[list[list[int]]] = [[[] for _ in sequences] for _ in range(frames)]
    for p, sequence in enumerate(sequences):
        for start in range(0, frames, max(1, batch_size)):
            chunk = pixel_values[start : start + max(1, batch_size)]
            for offset, tokens in enumerate(
                generate_naive(model, chunk, sequence, spec, max_new_tokens)
            ):
                answers[start + offset][p] = tokens
    return answers
