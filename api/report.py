"""What the CLI shows a person: a progress bar and a readable report."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TextIO

from analyzers.schema import AnalysisResult


class ProgressBar:
    """A one-line bar on a terminal, redrawn in place; the caller decides if it is shown."""

    def __init__(self, label: str, stream: TextIO = sys.stderr) -> None:
        self.label = label
        self.stream = stream
        self.stream.write(f"{label} decoding...\r")
        self.stream.flush()

    def update(self, done: int, total: int) -> None:
        width = max(10, min(40, shutil.get_terminal_size().columns - len(self.label) - 20))
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total} frames")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r\033[K")
        self.stream.flush()


def _format_ranges(ranges: list[tuple[float, float]]) -> str:
    return ", ".join(f"{start:.1f}-{end:.1f}s" for start, end in ranges[:3]) + (
        ", ..." if len(ranges) > 3 else ""
    )


def render_report(path: Path, result: AnalysisResult) -> str:
    """The result as text a person reads top to bottom."""
    v, m, t = result.video, result.model, result.timings
    lines = [
        f"== {path}",
        f"video: {v.orientation} {v.width}x{v.height}, {v.duration_s:.1f} s, {v.fps:.2f} fps, "
        f"{v.codec}, audio: {'yes' if v.has_audio else 'no'} (decoder: {v.decoder})",
        f"model: {m.name} ({m.quantization}, {m.device})"
        + ("  [random-weight test model: text is meaningless]" if m.test_model else ""),
        "",
        f"summary: {result.summary}",
        "",
        "aspects:",
    ]
    for name, answers in result.aspects.items():
        top = "; ".join(
            f"{a.text} ({a.frames} frames, {_format_ranges(a.time_ranges)})" for a in answers[:3]
        )
        lines.append(f"  {name}: {top}")
    lines += ["", "frames:"]
    for frame in result.frames:
        lines.append(f"  {frame.timestamp_s:7.2f}s  {frame.caption}")
        for name, answer in frame.aspects.items():
            lines.append(f"             {name}: {answer}")
    lines += [
        "",
        f"timings: decode {t.decode_s:.2f} s, inference {t.inference_s:.2f} s, "
        f"total {t.total_s:.2f} s ({t.realtime_factor:.2f}x the video's length)",
    ]
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines) + "\n"
