"""What the video LLM is asked: a detailed description, one question per aspect, frame times."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: the prompt whose answer becomes the result's summary
DESCRIPTION_PROMPT = (
    "Describe this video in detail: the setting, who and what appears, and what happens, in order."
)

# One short question per aspect; the answers are free text, cleaned but never required to parse.
VIDEO_ASPECT_QUESTIONS: dict[str, str] = {
    "scene": "Where does this video take place?",
    "people": "Who appears in this video?",
    "actions": "What happens in this video, in order?",
    "objects": "What objects are shown in this video?",
    "text": "What text appears on screen in this video?",
    "mood": "What is the mood of this video?",
    "style": "What are the colors, lighting and visual style of this video?",
    "camera": "How is this video filmed: shot types and camera movement?",
}

#: asked after each aspect question; timed lines are optional and parsed leniently
ANSWER_FORMAT = (
    "Answer in one short sentence. If the answer changes during the video, "
    "write one line per part as 'START-END s: answer'."
)


def time_instruction(duration_s: float, timestamps: Sequence[float]) -> str:
    """LLaVA-Video's time instruction: how long the video is and where the frames were taken."""
    times = ", ".join(f"{t:.1f}s" for t in timestamps)
    count = len(timestamps)
    return (
        f"The video lasts for {duration_s:.1f} seconds, and {count} frame"
        f"{'s are' if count != 1 else ' is'} sampled from it at {times}."
    )


def aspect_prompt(aspect: str) -> str:
    """The question for one canonical aspect name, with the answer-format hint."""
    question = VIDEO_ASPECT_QUESTIONS.get(aspect, f"Describe the {aspect} of this video.")
    return f"{question} {ANSWER_FORMAT}"


def chat_messages(
    visual_content: list[dict[str, Any]], instruction: str, question: str
) -> list[dict[str, Any]]:
    """One user turn: the frames first, then the time instruction and the question."""
    text = {"type": "text", "text": f"{instruction}\n{question}"}
    return [{"role": "user", "content": [*visual_content, text]}]


def corpus_lines() -> list[str]:
    """Prompt text for the tiny test models' tokenizer, so prompts tokenize into words."""
    lines = [DESCRIPTION_PROMPT, ANSWER_FORMAT, *VIDEO_ASPECT_QUESTIONS.values()]
    lines.append(time_instruction(12.5, [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5]))
    lines.append("0-5 s: a man in a kitchen\n5-10 s: a woman on a street")
    return lines
