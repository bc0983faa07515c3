"""What differs between video-LLM families: pixels in, per-frame visual tokens out, placeholders.

Every family turns sampled frames into one (tokens, hidden) tensor per frame in
the language model's embedding space; merging then shrinks each frame, and the
prompt gets exactly as many placeholder tokens as there are merged tokens.

- Qwen2-VL / Qwen2.5-VL: each frame is an image (``<|image_pad|>`` per frame), tokens
  after the 2x2 patch merger, 3-D M-RoPE positions (kept per token through merging).
- LLaVA-OneVision: the frames are one video (``<video>``), each frame's tokens pooled
  2x2 as the model does for video, one ``image_newline`` after the last frame.
- LLaVA (LLaVA-1.5 layout, AuroraCap converted): each frame is an image (``<image>``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from analyzers.errors import ModelLoadError

#: most visual tokens per frame for Qwen2-VL (pixels = tokens x (patch x merge)^2)
QWEN_FRAME_TOKENS = 256


@dataclass(frozen=True)
class FrameTokens:
    """One frame's visual tokens in the language model's embedding space."""

    features: torch.Tensor  # (tokens, hidden)
    #: M-RoPE (t, h, w) offsets of each token within the frame; None for 1-D positions
    coords: torch.Tensor | None = None
    #: positions the frame advances the text after it (M-RoPE); unused for 1-D positions
    span: int = 0


@dataclass(frozen=True)
class EncodedVideo:
    """All frames' tokens, plus what the family appends after them (OneVision's newline)."""

    frames: list[FrameTokens]
    trailer: torch.Tensor | None = None  # (tokens, hidden)


def _size_value(size: Any, key: str) -> int | None:
    """One entry of an image processor's size (a SizeDict or a plain dict), if set."""
    value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
    return int(value) if value else None


class Family(ABC):
    """One model family's input and placeholder conventions."""

    name: ClassVar[str]
    model_types: ClassVar[tuple[str, ...]]

    def __init__(self, model_config: Any) -> None:
        self.config = model_config

    @property
    @abstractmethod
    def placeholder_id(self) -> int:
        """The token id the prompt repeats once per visual token."""

    @abstractmethod
    def pixel_inputs(self, image_processor: Any, images: Sequence[np.ndarray]) -> dict[str, Any]:
        """CPU tensors for the vision tower from RGB uint8 frames (image processor, PIL path)."""

    @abstractmethod
    def encode(self, model: Any, inputs: dict[str, Any], dtype: torch.dtype) -> EncodedVideo:
        """Run the vision tower and projector; one FrameTokens per frame."""

    @abstractmethod
    def visual_content(self, frames: int) -> list[dict[str, Any]]:
        """The chat-template content items that stand for the frames."""

    def expand(self, ids: Sequence[int], counts: Sequence[int]) -> list[int]:
        """Repeat each frame's placeholder by its token count (one placeholder per frame)."""
        out: list[int] = []
        frame = 0
        for token in ids:
            if token == self.placeholder_id:
                out.extend([token] * counts[frame])
                frame += 1
            else:
                out.append(token)
        if frame != len(counts):
            raise ValueError(f"prompt has {frame} frame placeholders for {len(counts)} frames")
        return out

    def positions(self, ids: Sequence[int], video: EncodedVideo) -> torch.Tensor | None:
        """(3, len(ids)) M-RoPE positions, or None when the model counts positions itself."""
        return None

    def _feature_layer_kwargs(self) -> dict[str, Any]:
        return {
            "vision_feature_layer": self.config.vision_feature_layer,
            "vision_feature_select_strategy": self.config.vision_feature_select_strategy,
        }


class QwenVLFamily(Family):
    name = "qwen2-vl"
    model_types = ("qwen2_vl", "qwen2_5_vl")

    @property
    def placeholder_id(self) -> int:
        return int(self.config.image_token_id)

    def pixel_inputs(self, image_processor: Any, images: Sequence[np.ndarray]) -> dict[str, Any]:
        # Images may have up to ~16k tokens each by default; video frames get a budget of
        # QWEN_FRAME_TOKENS (Qwen's own video sampling gives a 16-frame clip a similar total).
        unit = int(image_processor.patch_size) * int(image_processor.merge_size)
        budget = QWEN_FRAME_TOKENS * unit * unit
        longest = min(_size_value(image_processor.size, "longest_edge") or budget, budget)
        shortest = min(_size_value(image_processor.size, "shortest_edge") or unit * unit, longest)
        batch = image_processor(
            images=list(images),
            size={"shortest_edge": shortest, "longest_edge": longest},
            return_tensors="pt",
        )
        return {"pixel_values": batch["pixel_values"], "image_grid_thw": batch["image_grid_thw"]}

    def encode(self, model: Any, inputs: dict[str, Any], dtype: torch.dtype) -> EncodedVideo:
        base = model.model
        device = model.device
        grid = inputs["image_grid_thw"].to(device)
        out = base.get_image_features(inputs["pixel_values"].to(device, dtype), grid)
        merge = int(self.config.vision_config.spatial_merge_size)
        frames = []
        for features, thw in zip(out.pooler_output, grid, strict=True):
            # The same per-image layout get_rope_index gives, relative to the image's start.
            coords = base.get_vision_position_ids(0, thw, 1, merge, device=device)
            span = int(max(int(thw[1]), int(thw[2])) // merge)
            frames.append(FrameTokens(features, coords, span))
        return EncodedVideo(frames)

    def visual_content(self, frames: int) -> list[dict[str, Any]]:
        return [{"type": "image"} for _ in range(frames)]

    def positions(self, ids: Sequence[int], video: EncodedVideo) -> torch.Tensor:
        """What Qwen2VLModel.get_rope_index computes, for frames whose tokens were merged."""
        columns: list[torch.Tensor] = []
        current = 0
        frame = 0
        i = 0
        while i < len(ids):
            if ids[i] != self.placeholder_id:
                # A run of text tokens: 1-D positions, the same in all three rows.
                end = i
                while end < len(ids) and ids[end] != self.placeholder_id:
                    end += 1
                columns.append(torch.arange(current, current + end - i).expand(3, -1))
                current += end - i
                i = end
                continue
            tokens = video.frames[frame]
            assert tokens.coords is not None
            count = tokens.coords.shape[1]
            columns.append(tokens.coords.detach().to("cpu", torch.long) + current)
            current += tokens.span
            frame += 1
            i += count
        return torch.cat(columns, dim=1)


class LlavaOnevisionFamily(Family):
    name = "llava-onevision"
    model_types = ("llava_onevision",)

    @property
    def placeholder_id(self) -> int:
        return int(self.config.video_token_id)

    def pixel_inputs(self, image_processor: Any, images: Sequence[np.ndarray]) -> dict[str, Any]:
        # The video processor (torchvision) only resizes to the base size and normalises; that
        # is the first ("base") patch the image processor makes, so a one-cell grid suffices.
        size = image_processor.size
        grid = [[int(size["height"]), int(size["width"])]]
        batch = image_processor(images=list(images), image_grid_pinpoints=grid, return_tensors="pt")
        return {"pixel_values_videos": batch["pixel_values"][:, 0].unsqueeze(0)}

    def encode(self, model: Any, inputs: dict[str, Any], dtype: torch.dtype) -> EncodedVideo:
        pixels = inputs["pixel_values_videos"].to(model.device, dtype)
        frames = pixels.shape[1]
        out = model.model.get_video_features(pixels, **self._feature_layer_kwargs())
        sequence = out.pooler_output[0]  # (frames * pooled + 1, hidden), newline last
        per_frame = sequence[:-1].reshape(frames, -1, sequence.shape[-1])
        return EncodedVideo([FrameTokens(f) for f in per_frame], trailer=sequence[-1:])

    def visual_content(self, frames: int) -> list[dict[str, Any]]:
        return [{"type": "video"}]

    def expand(self, ids: Sequence[int], counts: Sequence[int]) -> list[int]:
        # One <video> for all frames, plus the trailing image_newline token.
        total = sum(counts) + 1
        out: list[int] = []
        seen = 0
        for token in ids:
            if token == self.placeholder_id:
                out.extend([token] * total)
                seen += 1
            else:
                out.append(token)
        if seen != 1:
            raise ValueError(f"prompt has {seen} video placeholders, expected 1")
        return out


class LlavaFamily(Family):
    name = "llava"
    model_types = ("llava",)

    @property
    def placeholder_id(self) -> int:
        return int(self.config.image_token_id)

    def pixel_inputs(self, image_processor: Any, images: Sequence[np.ndarray]) -> dict[str, Any]:
        batch = image_processor(images=list(images), return_tensors="pt")
        return {"pixel_values": batch["pixel_values"]}

    def encode(self, model: Any, inputs: dict[str, Any], dtype: torch.dtype) -> EncodedVideo:
        pixels = inputs["pixel_values"].to(model.device, dtype)
        out = model.model.get_image_features(pixels, **self._feature_layer_kwargs())
        return EncodedVideo([FrameTokens(f) for f in out.pooler_output])

    def visual_content(self, frames: int) -> list[dict[str, Any]]:
        return [{"type": "image"} for _ in range(frames)]


FAMILIES: tuple[type[Family], ...] = (QwenVLFamily, LlavaOnevisionFamily, LlavaFamily)


def family_for(model_config: Any, model_name: str) -> Family:
    """The family of a loaded model, from its config's model_type."""
    model_type = str(getattr(model_config, "model_type", ""))
    for cls in FAMILIES:
        if model_type in cls.model_types:
            return cls(model_config)
    known = ", ".join(t for cls in FAMILIES for t in cls.model_types)
    raise ModelLoadError(
        f"model {model_name!r} has model_type {model_type!r}, which the video-llm analyzer does "
        f"not support (supported: {known}); set TIKTOK_ANALYZER_MODEL (or --model) to one of those"
    )
