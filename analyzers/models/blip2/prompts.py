"""The caption prompt and the aspect questions, in the form BLIP-2 OPT was trained on."""

from __future__ import annotations

#: Empty on purpose: blip2-opt-2.7b was pre-trained to caption from the image queries and
#: BOS alone (what its model card shows). "a photo of" only helps the COCO-finetuned
#: checkpoints, and would then have to be glued back onto every caption.
CAPTION_PROMPT = ""

# Short VQA-style questions: OPT-2.7b is not instruction-tuned, so it answers simple
# "Question: ... Answer:" prompts and drifts on long or compound ones.
ASPECT_PROMPTS: dict[str, str] = {
    "scene": "Question: Where is this scene taking place? Answer:",
    "people": "Question: Who is in this picture? Answer:",
    "actions": "Question: What is happening in this picture? Answer:",
    "objects": "Question: What objects are in this picture? Answer:",
    "text": "Question: What does the text in this picture say? Answer:",
    "mood": "Question: What is the mood of this picture? Answer:",
    "style": "Question: What are the colors and lighting like in this picture? Answer:",
    # One frame cannot show camera movement; the shot type is what a frame can answer.
    "camera": "Question: Is this a close-up, a medium shot or a wide shot? Answer:",
}
