"""ToMe-style bipartite token merging of one frame's visual tokens (AuroraCap's trick).

Tokens alternate into two sets A (even positions) and B (odd positions); every A
token finds its most similar B token (cosine), and the ``r`` most similar pairs
are averaged into their B token, weighted by how many original tokens each
already stands for. Passes repeat until the frame is down to its target count;
a pass can remove at most half the tokens, so ratio 0.25 takes two. Survivors
keep their original order, and each keeps the index of its B token so a family
with 2-D/3-D positions (Qwen2-VL's M-RoPE) can place it where that token was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MergedTokens:
    """One frame's tokens after merging, with the original index each survivor stands at."""

    features: torch.Tensor  # (kept, hidden)
    source_index: torch.Tensor  # (kept,) long, increasing


def merged_count(tokens: int, ratio: float) -> int:
    """Tokens a frame keeps at ``ratio`` (share kept, 1.0 = all): at least one."""
    if ratio >= 1.0 or tokens <= 1:
        return tokens
    return max(1, math.ceil(tokens * ratio))


def merge_tokens(features: torch.Tensor, ratio: float) -> MergedTokens:
    """Merge a frame's (tokens, hidden) features down to merged_count(tokens, ratio)."""
    tokens = features.shape[0]
    index = torch.arange(tokens, device=features.device)
    target = merged_count(tokens, ratio)
    if target >= tokens:
        # Nothing to merge: the very same tensor, so ratio 1.0 cannot change the output.
        return MergedTokens(features, index)
    work = features.float()
    size = torch.ones(tokens, device=features.device)
    while work.shape[0] > target:
        work, size, index = _bipartite_pass(work, size, index, work.shape[0] - target)
    return MergedTokens(work.to(features.dtype), index)


def _bipartite_pass(
    x: torch.Tensor, size: torch.Tensor, index: torch.Tensor, want: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pass: merge up to ``want`` (at most len(A)) A tokens into their closest B tokens."""
    a_idx = torch.arange(0, x.shape[0], 2, device=x.device)
    b_idx = torch.arange(1, x.shape[0], 2, device=x.device)
    # merge_tokens calls with at least 2 tokens and want >= 1, so A and B are never empty.
    r = min(want, a_idx.numel(), b_idx.numel())
    normed = torch.nn.functional.normalize(x, dim=-1)
    scores = normed[a_idx] @ normed[b_idx].T  # (|A|, |B|)
    best_score, best_b = scores.max(dim=-1)
    # Most similar A tokens merge first; stable sort keeps ties deterministic.
    order = torch.sort(best_score, descending=True, stable=True).indices
    merged_a = order[:r]
    kept_a = order[r:]

    weighted = x * size[:, None]
    b_sum = weighted[b_idx].clone()
    b_size = size[b_idx].clone()
    b_sum.index_add_(0, best_b[merged_a], weighted[a_idx[merged_a]])
    b_size.index_add_(0, best_b[merged_a], size[a_idx[merged_a]])

    survivors = torch.cat([a_idx[kept_a], b_idx])
    new_x = torch.cat([x[a_idx[kept_a]], b_sum / b_size[:, None]])
    new_size = torch.cat([size[a_idx[kept_a]], b_size])
    # Back into original order, so the frame still reads top-left to bottom-right.
    order_back = torch.argsort(survivors)
    return new_x[order_back], new_size[order_back], index[survivors[order_back]]
