"""Test videos whose ground truth is known: hard cuts, drawn text overlays, spoken words.

``make_story_video`` paints each shot as its own busy texture scrolling over time
(so consecutive frames differ and a cut is the only abrupt change), draws text
the way short videos do (white or coloured fill with a dark outline, several
fonts and sizes) between known times, and muxes an audio track of espeak-ng
speech at known times with silence between.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from analyzers.testing.clips import _add_audio, _encoder_options

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
#: fonts the overlays cycle through (Debian fonts-dejavu-core); Pillow's own font stands in
FONTS = ("DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSans.ttf")
AUDIO_RATE = 22050  # espeak-ng's own rate


@dataclass(frozen=True)
class Overlay:
    """Text on screen from start_s to end_s; y is the text centre as a share of the height."""

    text: str
    start_s: float
    end_s: float
    size: int = 48
    font: str = FONTS[0]
    fill: tuple[int, int, int] = (255, 255, 255)
    outline: tuple[int, int, int] = (0, 0, 0)
    stroke: int = 3
    y: float = 0.3


@dataclass(frozen=True)
class Speech:
    """Words spoken by espeak-ng from start_s."""

    text: str
    start_s: float


@dataclass(frozen=True)
class SpokenSpan:
    """Where speech really is in the generated track (from the samples, not the request)."""

    text: str
    start_s: float
    end_s: float


def _font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = FONT_DIR / name
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def _overlay_layer(overlay: Overlay, width: int, height: int) -> tuple[np.ndarray, int, int]:
    """The overlay as an RGBA patch and where its top-left corner goes."""
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    size = overlay.size
    while True:  # shrink until the text fits the width, as apps do, so all of it is visible
        font = _font(overlay.font, size)
        box = probe.multiline_textbbox(
            (0, 0), overlay.text, font=font, stroke_width=overlay.stroke, align="center"
        )
        if box[2] - box[0] + 4 <= width * 0.94 or size <= 8:
            break
        size -= 2
    w, h = int(box[2] - box[0]) + 4, int(box[3] - box[1]) + 4
    patch = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    ImageDraw.Draw(patch).multiline_text(
        (2 - box[0], 2 - box[1]),
        overlay.text,
        font=font,
        fill=(*overlay.fill, 255),
        stroke_width=overlay.stroke,
        stroke_fill=(*overlay.outline, 255),
        align="center",
    )
    x = max(0, (width - w) // 2)
    y = min(max(0, int(overlay.y * height) - h // 2), max(0, height - h))
    return np.asarray(patch), x, y


def _shot_texture(index: int, width: int, height: int, seed: int) -> np.ndarray:
    """A busy texture twice the frame's size, different in colour and grain for each shot."""
    rng = np.random.default_rng(seed * 1000 + index)
    grain = rng.integers(8, 32)  # blocks of 8 to 32 px: detail, yet not noise once scaled
    small = rng.integers(0, 256, (2 * height // grain + 2, 2 * width // grain + 2, 3))
    texture = np.kron(small, np.ones((grain, grain, 1)))[: 2 * height, : 2 * width]
    tint = rng.integers(40, 216, 3)
    # Half texture, half a flat shot colour: busy like a real background, yet each shot distinct.
    return (0.5 * texture + 0.5 * tint).astype(np.uint8)


def _ping_pong(step: int, limit: int) -> int:
    place = step % (2 * limit)
    return place if place < limit else 2 * limit - place - 1


def _compose(frame: np.ndarray, layer: tuple[np.ndarray, int, int]) -> None:
    patch, x, y = layer
    h = min(patch.shape[0], frame.shape[0] - y)
    w = min(patch.shape[1], frame.shape[1] - x)
    alpha = patch[:h, :w, 3:4].astype(np.float32) / 255.0
    region = frame[y : y + h, x : x + w]
    region[:] = (patch[:h, :w, :3] * alpha + region * (1.0 - alpha)).astype(np.uint8)


def speech_samples(text: str, speed: int = 170, voice: str = "en") -> np.ndarray:
    """espeak-ng saying ``text`` (words a minute, voice such as en-us or en+f3): int16 mono."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out), text],
            check=True,
            capture_output=True,
        )
        with wave.open(str(out)) as wav:
            if wav.getframerate() != AUDIO_RATE or wav.getnchannels() != 1:
                raise RuntimeError(f"unexpected espeak-ng output {wav.getparams()}")
            samples: np.ndarray = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    copied: np.ndarray = samples.copy()
    return copied


def speech_track(
    duration_s: float, speech: Sequence[Speech]
) -> tuple[np.ndarray, list[SpokenSpan]]:
    """Silence with each Speech placed at its start, and where sound really is."""
    track = np.zeros(int(duration_s * AUDIO_RATE), dtype=np.int16)
    spans: list[SpokenSpan] = []
    for item in speech:
        samples = speech_samples(item.text)
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 300)
        at = int(item.start_s * AUDIO_RATE)
        end = min(len(track), at + len(samples))
        track[at:end] = samples[: end - at]
        if len(loud):
            first, last = at + loud[0], min(end, at + loud[-1])
            spans.append(SpokenSpan(item.text, first / AUDIO_RATE, last / AUDIO_RATE))
    return track, spans


def make_story_video(
    path: Path,
    *,
    width: int = 360,
    height: int = 640,
    duration_s: float = 6.0,
    fps: int = 30,
    cuts: Sequence[float] = (),
    overlays: Sequence[Overlay] = (),
    speech: Sequence[Speech] = (),
    codec: str = "libx264",
    seed: int = 0,
    pan: tuple[int, int] = (2, 1),
    sound: np.ndarray | None = None,
) -> tuple[Path, list[SpokenSpan]]:
    """Encode the video; returns it and where speech really is (empty without speech).

    ``pan``: pixels per frame the background moves (x, y); larger is a faster camera.
    ``sound``: an int16 track at AUDIO_RATE to use instead of speech (a music bed).
    """
    path = Path(path)
    total = max(1, round(duration_s * fps))
    cut_frames = sorted(round(c * fps) for c in cuts)
    textures = [_shot_texture(i, width, height, seed) for i in range(len(cut_frames) + 1)]
    layers = [(o, _overlay_layer(o, width, height)) for o in overlays]
    track, spans = speech_track(duration_s, speech) if speech else (sound, [])
    is_mp4 = path.suffix.lower() in {".mp4", ".mov"}
    with av.open(str(path), mode="w", options={"movflags": "+faststart"} if is_mp4 else {}) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.gop_size = 2 * fps
        stream.options = _encoder_options(codec, "ultrafast")
        audio = _add_audio(out, AUDIO_RATE) if track is not None else None
        for index in range(total):
            shot = sum(1 for c in cut_frames if c <= index)
            # The background pans back and forth: smooth motion, no jump a detector sees as a cut.
            dx, dy = _ping_pong(index * pan[0], width), _ping_pong(index * pan[1], height)
            frame = textures[shot][dy : dy + height, dx : dx + width].copy()
            moment = index / fps
            for overlay, layer in layers:
                if overlay.start_s <= moment < overlay.end_s:
                    _compose(frame, layer)
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = index
            video_frame.time_base = Fraction(1, fps)
            out.mux(stream.encode(video_frame))
        out.mux(stream.encode(None))
        if audio is not None and track is not None:
            _write_samples(out, audio, track)
    return path, spans


def _write_samples(
    out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, track: np.ndarray
) -> None:
    resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=stream.rate)
    chunk = 1024
    for start in range(0, len(track), chunk):
        piece = track[None, start : start + chunk]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(piece), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = Fraction(1, AUDIO_RATE)
        for converted in resampler.resample(frame):
            out.mux(stream.encode(converted))
    for converted in resampler.resample(None):
        out.mux(stream.encode(converted))
    out.mux(stream.encode(None))


def overlay_frame(
    width: int, height: int, overlays: Sequence[Overlay], shot: int = 0, seed: int = 0
) -> np.ndarray:
    """One RGB frame with the overlays drawn on a shot's texture (for OCR without a video)."""
    frame: np.ndarray = _shot_texture(shot, width, height, seed)[:height, :width].copy()
    for overlay in overlays:
        _compose(frame, _overlay_layer(overlay, width, height))
    return frame
