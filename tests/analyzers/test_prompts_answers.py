"""Aspect prompts, answer cleaning, aggregation across frames and the summary text."""

from __future__ import annotations

import pytest

from analyzers.answers import (
    aggregate_aspects,
    clean_answer,
    merge_answers,
    normalize_answer,
    summarize,
)
from analyzers.aspects import ASPECT_LABELS, DEFAULT_ASPECTS, resolve_aspects
from analyzers.errors import InvalidOptionError
from analyzers.models.blip2.prompts import ASPECT_PROMPTS, CAPTION_PROMPT
from analyzers.schema import EMPTY_ANSWER, AspectAnswer, FrameDescription

# --- prompts -------------------------------------------------------------------------------


def test_every_default_aspect_has_a_question_prompt_and_label() -> None:
    assert len(DEFAULT_ASPECTS) == 8
    assert set(ASPECT_PROMPTS) == set(DEFAULT_ASPECTS) == set(ASPECT_LABELS)
    for prompt in ASPECT_PROMPTS.values():
        assert prompt.startswith("Question: ")
        assert prompt.endswith(" Answer:")
    assert CAPTION_PROMPT == ""


def test_resolve_aspects_maps_aliases_and_dedupes_keeping_order() -> None:
    names = ("mood", "setting", "Scene", "on_screen_text", "visual-style", "mood")
    assert resolve_aspects(names) == ("mood", "scene", "text", "style")


def test_resolve_aspects_accepts_all_defaults() -> None:
    assert resolve_aspects(DEFAULT_ASPECTS) == DEFAULT_ASPECTS


def test_resolve_aspects_rejects_empty() -> None:
    with pytest.raises(InvalidOptionError, match="at least one aspect"):
        resolve_aspects(())


def test_resolve_aspects_rejects_unknown_and_lists_known_names() -> None:
    with pytest.raises(InvalidOptionError) as info:
        resolve_aspects(("scene", "weather"))
    message = str(info.value)
    assert "'weather'" in message
    for name in DEFAULT_ASPECTS:
        assert name in message


# --- clean_answer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a hat on top of a hat on top of a hat", "a hat on top of a hat"),
        ("the the the cat sat", "the cat sat"),
        ("dog, dog, dog.", "dog"),
        ("blue blue sky blue sky blue sky", "blue sky"),
        ("a man with a hat, a man with", "a man with a hat"),
        ("a man dancing in a kitchen and a man dancing in a kitchen", "a man dancing in a kitchen"),
        ("two people walking on the beach at sunset", "two people walking on the beach at sunset"),
    ],
)
def test_clean_answer_collapses_repetition(raw: str, expected: str) -> None:
    assert clean_answer(raw) == expected


def test_clean_answer_strips_echoed_prompt_and_special_tokens() -> None:
    prompt = ASPECT_PROMPTS["scene"]
    assert clean_answer(f"{prompt} a beach</s><pad>", prompt) == "a beach"
    assert clean_answer("Question: where is it? Answer: a red car.") == "a red car"
    assert clean_answer("Answer: a kitchen") == "a kitchen"


def test_clean_answer_cuts_the_next_question_turn() -> None:
    assert clean_answer(" a kitchen Question: who is there? Answer: a man") == "a kitchen"


def test_clean_answer_trims_whitespace_punctuation_and_dangling_words() -> None:
    assert clean_answer("   a   man\n holding a  ") == "a man holding"
    assert clean_answer("- a cat,") == "a cat"
    assert clean_answer("on") == "on"  # a one-word answer is never trimmed away


def test_clean_answer_drops_byte_fragments_and_control_characters() -> None:
    assert clean_answer("a\ufffd\x08 cat") == "a cat"


@pytest.mark.parametrize("raw", ["", "   ", "<pad><pad></s>", ". , ;", "Question: what?"])
def test_clean_answer_never_returns_empty(raw: str) -> None:
    assert clean_answer(raw) == EMPTY_ANSWER


# --- aggregation -----------------------------------------------------------------------------


def _frames(captions: list[str], **aspects: list[str]) -> list[FrameDescription]:
    return [
        FrameDescription(
            timestamp_s=2.0 * i,
            caption=caption,
            aspects={name: answers[i] for name, answers in aspects.items()},
        )
        for i, caption in enumerate(captions)
    ]


def test_normalize_answer_ignores_case_punctuation_and_articles() -> None:
    assert normalize_answer("A Man, dancing in THE kitchen.") == "man dancing in kitchen"


def test_aggregate_merges_near_duplicates_and_orders_by_frequency() -> None:
    scene = [
        "a kitchen",
        "the kitchen",
        "a beach at sunset",
        "A Kitchen.",
        "a beach at sunset",
        "a kitchens",
    ]
    frames = _frames(["x"] * 6, scene=scene)
    result = aggregate_aspects(frames, ["scene"])
    assert list(result) == ["scene"]
    answers = result["scene"]
    assert [a.text for a in answers] == ["a kitchen", "a beach at sunset"]
    assert [a.frames for a in answers] == [4, 2]
    # kitchen: frames 0, 1, 3, 5 -> spans 0-2 s, 6 s, 10 s; beach: frames 2 and 4
    assert answers[0].time_ranges == [(0.0, 2.0), (6.0, 6.0), (10.0, 10.0)]
    assert answers[1].time_ranges == [(4.0, 4.0), (8.0, 8.0)]


def test_aggregate_keeps_distinct_answers_apart() -> None:
    frames = _frames(["x"] * 3, people=["a dog", "a cat", "a woman in a red dress"])
    texts = [a.text for a in aggregate_aspects(frames, ["people"])["people"]]
    assert texts == ["a dog", "a cat", "a woman in a red dress"]  # ties keep first-seen order


def test_aggregate_puts_empty_answers_last_and_fills_missing_aspects() -> None:
    frames = _frames(["x"] * 3, mood=[EMPTY_ANSWER, EMPTY_ANSWER, "happy"])
    result = aggregate_aspects(frames, ["mood", "camera"])
    assert [(a.text, a.frames) for a in result["mood"]] == [("happy", 1), (EMPTY_ANSWER, 2)]
    assert result["camera"] == [AspectAnswer(text=EMPTY_ANSWER, frames=3, time_ranges=[(0.0, 4.0)])]


def test_aggregate_only_includes_requested_aspects_in_order() -> None:
    frames = _frames(["x"], scene=["a room"], mood=["calm"])
    assert list(aggregate_aspects(frames, ["mood", "scene"])) == ["mood", "scene"]


def test_merge_answers_picks_the_most_common_wording() -> None:
    merged = merge_answers(["the beach", "a beach", "a beach"], [0.0, 1.0, 2.0])
    assert merged == [AspectAnswer(text="a beach", frames=3, time_ranges=[(0.0, 2.0)])]


# --- summary ---------------------------------------------------------------------------------


def test_summarize_reads_as_english_with_top_answers() -> None:
    captions = ["a man dancing in a kitchen"] * 3 + ["a man sitting on a couch"]
    frames = _frames(
        captions,
        scene=["a kitchen", "a kitchen", "a kitchen", "a living room"],
        mood=["happy"] * 4,
        text=[EMPTY_ANSWER] * 4,
    )
    summary = summarize(frames, aggregate_aspects(frames, ["scene", "mood", "text"]))
    assert summary.startswith("4 frames sampled from 0.0 s to 6.0 s.")
    assert "Mostly: a man dancing in a kitchen (3/4 frames)." in summary
    assert "Also: a man sitting on a couch (1/4 frames)." in summary
    assert "Scene: a kitchen; a living room." in summary
    assert "Mood: happy." in summary
    assert "On-screen text" not in summary  # nothing but empty answers
    assert EMPTY_ANSWER not in summary


def test_summarize_says_throughout_when_one_caption_covers_everything() -> None:
    frames = _frames(["a cat on a bed"] * 2)
    assert "Throughout: a cat on a bed (2/2 frames)." in summarize(frames, {})


def test_summarize_without_frames() -> None:
    assert summarize([], {}) == "No frames were described."
