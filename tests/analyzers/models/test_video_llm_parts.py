"""Token merging and the lenient reading of video-LLM answers, without a model."""

from __future__ import annotations

import math

import pytest
import torch

from analyzers.models.video_llm.merging import merge_tokens, merged_count
from analyzers.models.video_llm.parsing import read_answer, to_aspect_answers, video_description
from analyzers.schema import EMPTY_ANSWER

TIMESTAMPS = [0.5, 1.5, 2.5, 3.5]
DURATION = 4.0

# --- merging ---------------------------------------------------------------------------------


def test_ratio_one_returns_the_same_tensor() -> None:
    features = torch.randn(16, 8)
    merged = merge_tokens(features, 1.0)
    assert merged.features is features
    assert merged.source_index.tolist() == list(range(16))


@pytest.mark.parametrize(
    ("tokens", "ratio"), [(16, 0.5), (16, 0.25), (15, 0.5), (196, 0.1), (7, 0.3)]
)
def test_merged_count_is_reached(tokens: int, ratio: float) -> None:
    merged = merge_tokens(torch.randn(tokens, 8, generator=torch.Generator().manual_seed(1)), ratio)
    assert merged.features.shape == (math.ceil(tokens * ratio), 8)
    assert merged.features.shape[0] == merged_count(tokens, ratio)
    index = merged.source_index.tolist()
    assert index == sorted(index) and len(set(index)) == len(index)


def test_duplicates_merge_first_and_average_by_size() -> None:
    # Four distinct directions, each token doubled (A then B of the same pair): halving the
    # count must fold every duplicate into its twin and leave the four directions intact.
    basis = torch.eye(4) * torch.tensor([1.0, 2.0, 3.0, 4.0])[:, None]
    features = basis.repeat_interleave(2, dim=0)
    merged = merge_tokens(features, 0.5)
    assert torch.allclose(merged.features, basis)
    assert merged.source_index.tolist() == [1, 3, 5, 7]  # each survivor is the B token


def test_merged_token_is_the_size_weighted_mean() -> None:
    # Set A = tokens 0 and 2, set B = 1 and 3. Both A tokens are closest to token 1, so
    # halving folds them into it: token 1 becomes the mean of 0, 1 and 2; token 3 is untouched.
    features = torch.tensor([[1.0, 0.0], [1.0, 0.1], [1.0, 0.05], [0.0, 1.0]])
    merged = merge_tokens(features, 0.5)
    expected = features[:3].mean(dim=0)
    assert torch.allclose(merged.features[0], expected)
    assert torch.allclose(merged.features[1], features[3])


def test_low_precision_features_keep_their_dtype() -> None:
    features = torch.randn(16, 8).to(torch.bfloat16)
    assert merge_tokens(features, 0.5).features.dtype == torch.bfloat16


# --- reading answers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "<|im_end|>",
        "\x00\ufffd<image><video>",
        "0-50 s: longer than the video",
        "5-2 s: ends before it starts",
        "0-2 s: fine\nthen a line without a time",
        "3, 4 and 5 people",
        "Question: what? Answer: Question:",
        "zz" * 500,
    ],
)
def test_malformed_answers_fall_back_to_one_whole_video_answer(raw: str) -> None:
    pieces = read_answer(raw, DURATION)
    assert len(pieces) == 1
    assert (pieces[0].start_s, pieces[0].end_s) == (0.0, DURATION)
    assert pieces[0].text  # never "": EMPTY_ANSWER at worst


def test_timed_lines_become_time_ranges() -> None:
    raw = "0-2 s: a man in a kitchen\n[2.0 - 4.0] a woman on a street\nAt 3 s: a man in the kitchen"
    pieces = read_answer(raw, DURATION)
    assert [(p.start_s, p.end_s) for p in pieces] == [(0.0, 2.0), (2.0, 4.0), (3.0, 3.0)]
    answers = to_aspect_answers(pieces, TIMESTAMPS)
    # "a man in a kitchen" and "a man in the kitchen" normalise alike: one answer, two spans.
    assert answers[0].text == "a man in a kitchen"
    assert answers[0].time_ranges == [(0.0, 2.0), (3.0, 3.0)]
    assert answers[0].frames == 2
    assert answers[1].text == "a woman on a street" and answers[1].frames == 2


def test_end_a_little_past_the_video_is_clamped() -> None:
    pieces = read_answer("0-4.5 s: a dog", DURATION)
    assert (pieces[0].start_s, pieces[0].end_s) == (0.0, DURATION)


def test_description_from_untimed_texts() -> None:
    video = video_description(
        ["A man cooks pasta in a small kitchen", "a kitchen", ""],
        ["scene", "mood"],
        TIMESTAMPS,
        DURATION,
        ["w"],
    )
    assert video.summary == "A man cooks pasta in a small kitchen."
    assert video.aspects["scene"][0].text == "a kitchen"
    assert video.aspects["scene"][0].time_ranges == [(0.0, DURATION)]
    assert video.aspects["scene"][0].frames == len(TIMESTAMPS)
    assert video.aspects["mood"][0].text == EMPTY_ANSWER
    # No times from the model: per-frame fields stay empty.
    assert [(f.caption, f.aspects) for f in video.frames] == [("", {})] * len(TIMESTAMPS)
    assert video.warnings == ["w"]


def test_description_fills_frames_the_model_timed() -> None:
    video = video_description(
        ["0-2 s: he chops onions\n2-4 s: he serves the pasta", "0-1 s: a kitchen", "calm"],
        ["scene", "mood"],
        TIMESTAMPS,
        DURATION,
    )
    assert [f.caption for f in video.frames] == [
        "he chops onions",
        "he chops onions",
        "he serves the pasta",
        "he serves the pasta",
    ]
    assert [f.aspects for f in video.frames] == [{"scene": "a kitchen"}, {}, {}, {}]
    assert video.summary.startswith("0.0-2.0 s: He chops onions.")


def test_no_description_and_missing_answers_still_give_a_result() -> None:
    video = video_description(["<|im_end|>"], ["scene", "mood"], TIMESTAMPS, DURATION)
    assert video.summary.startswith("No description was produced")
    assert [a.text for a in video.aspects["mood"]] == [EMPTY_ANSWER]
