"""The small labelled set ``make eval`` runs: espeak-ng speech, text in every style, hard cuts.

Each clip is a few seconds of portrait video over one background per shot (flat to
busy), with one overlay per shot drawn in the next style and a sentence spoken by
espeak-ng; the manifest line holds the truth (transcript, overlays, cut times).
Run: ``python -m analyzers.testing.eval_set DIR`` writes DIR/*.mp4 and DIR/manifest.jsonl.
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from analyzers.testing.clips import _add_audio, _encoder_options
from analyzers.testing.overlays import BACKGROUNDS, background, draw_text, style_cycle
from analyzers.testing.story_clips import AUDIO_RATE, Speech, _write_samples, speech_track

#: (sentence, shots): clear sentences, as a narrator says them
CLIPS = (
    ("this is how you make the best pasta at home", 2),
    ("follow for more videos like this one every day", 3),
    ("here are three quick tips for a morning workout", 2),
    ("wait for the end to see the surprise", 3),
)
FPS = 15
#: backgrounds that pan: moving fine noise is TV static, every frame a cut to a detector
_MOVING = tuple(b for b in BACKGROUNDS if b != "noise")
SHOT_S = 2.0


def make_clip(
    path: Path, index: int, sentence: str, shots: int, size: tuple[int, int]
) -> dict[str, Any]:
    """Encode one clip; returns its manifest line."""
    width, height = size
    overlays: list[dict[str, Any]] = []
    cuts: list[float] = []
    layers: list[np.ndarray] = []
    for shot in range(shots):
        kind = _MOVING[(index + shot) % len(_MOVING)]
        style, text = style_cycle(index * 3 + shot)
        base = background(kind, width + 64, height + 64, seed=index * 10 + shot)
        layers.append(base)
        overlays.append({"text": text, "style": style, "start_s": shot * SHOT_S})
        if shot:
            cuts.append(shot * SHOT_S)
    duration = shots * SHOT_S
    track, _ = speech_track(duration, [Speech(sentence, 0.3)])
    with av.open(str(path), mode="w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = _encoder_options("libx264", "ultrafast")
        audio = _add_audio(out, AUDIO_RATE)
        for shot, base in enumerate(layers):
            texted = [
                draw_text(
                    base[dy : dy + height, dx : dx + width].copy(), **_draw(overlays[shot], width)
                )
                for dx, dy in ((step * 2, step) for step in range(int(SHOT_S * FPS)))
            ]
            for step, frame in enumerate(texted):
                video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
                video_frame.pts = shot * int(SHOT_S * FPS) + step
                video_frame.time_base = Fraction(1, FPS)
                out.mux(stream.encode(video_frame))
        out.mux(stream.encode(None))
        _write_samples(out, audio, track)
    return {
        "video": path.name,
        "transcript": sentence,
        "overlays": [o["text"].replace("\n", " ") for o in overlays],
        "cuts": cuts,
    }


def _draw(overlay: dict[str, Any], width: int) -> dict[str, Any]:
    return {"text": overlay["text"], "style": overlay["style"], "size": max(16, width // 11)}


def make_set(folder: Path, size: tuple[int, int] = (360, 640)) -> Path:
    """Every clip and the manifest; returns the manifest's path."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        make_clip(folder / f"clip{i}.mp4", i, sentence, shots, size)
        for i, (sentence, shots) in enumerate(CLIPS)
    ]
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return manifest


if __name__ == "__main__":
    print(make_set(Path(sys.argv[1] if len(sys.argv) > 1 else ".eval-set")))
