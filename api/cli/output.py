"""Where the CLI's results go: stdout in the chosen format, and files under ``--output-dir``.

stdout, per video:
    text   the readable report (the default)
    json   one line ``{"file": ..., "result": {...}}`` or ``{"file": ..., "error": {...}}``
    md     the Markdown report          srt / vtt   timed subtitles
With ``--output-dir DIR`` each video also gets ``DIR/<name>.json`` (the result),
its keyframes as ``DIR/<name>/frame_NNN.jpg`` (``frames[].image`` names them,
relative to DIR) and, for md/srt/vtt, ``DIR/<name>.<format>`` instead of stdout.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from analyzers.errors import InvalidOptionError
from analyzers.output.exports import export
from analyzers.output.report import render_report
from analyzers.schema import AnalysisResult
from analyzers.stages.keyframes import write_keyframes

FORMATS = ("text", "json", "md", "srt", "vtt")
#: formats that are whole documents: written to a file under --output-dir, not printed
DOCUMENT_FORMATS = ("md", "srt", "vtt")


def check_format(fmt: str, video_count: int, output_dir: Path | None) -> None:
    """Refuse, before any work, a format that cannot be produced for these inputs."""
    if fmt in ("srt", "vtt") and video_count > 1 and output_dir is None:
        raise InvalidOptionError(
            f"--format {fmt} prints the subtitles of one video; for several, add --output-dir DIR"
        )


class ResultWriter:
    """Prints each video's outcome and writes its files; one instance per run."""

    def __init__(self, fmt: str, output_dir: Path | None, out: TextIO, err: TextIO) -> None:
        self.fmt = fmt
        self.output_dir = output_dir
        self.out = out
        self.err = err
        self._used_names: set[str] = set()

    def prepare_output_dir(self) -> None:
        """Create --output-dir up front, so a bad path fails before the model loads."""
        if self.output_dir is None:
            return
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InvalidOptionError(
                f"cannot create the output folder {self.output_dir}: {err.strerror or err}"
            ) from None

    def _name_for(self, video: Path) -> str:
        """A file name stem unique in this run: clip, clip-2, ... for same-named videos."""
        stem, n = video.stem or "video", 1
        name = stem
        while name.lower() in self._used_names:
            n += 1
            name = f"{stem}-{n}"
        self._used_names.add(name.lower())
        return name

    def _write_keyframes(
        self, name: str, keyframes: Sequence[bytes | None]
    ) -> tuple[list[str], list[str]]:
        """Write the JPEGs as the service does: their paths in the output folder, and warnings."""
        assert self.output_dir is not None
        folder = self.output_dir / name
        try:
            # Made here for the CLI's own warning; write_keyframes words its own for the service.
            folder.mkdir(exist_ok=True)
        except OSError as err:  # a full disk costs the pictures, not the analysis
            return [], [f"keyframes were not written: {err.strerror or err}"]
        written, warnings = write_keyframes(list(keyframes), folder, "frame_{n:03d}.jpg")
        return [f"{name}/{path.name}" if path is not None else "" for path in written], warnings

    def result(
        self,
        video: Path,
        result: AnalysisResult,
        keyframes: Sequence[bytes | None] | None = None,
        label: str | None = None,
    ) -> None:
        """Write the files for one analysed video, then print it in the chosen format.

        ``label`` names a fetched link in the output (``video`` then only gives file names).
        """
        images: list[str] = []
        written: list[Path] = []
        name = self._name_for(video) if self.output_dir is not None else ""
        if self.output_dir is not None and keyframes:
            images, warnings = self._write_keyframes(name, keyframes)
            result.warnings.extend(warnings)
        for frame, image in zip(result.frames, images, strict=False):
            if image:
                frame.image = image  # relative to the output folder, where the JSON is
        data = result.model_dump(mode="json")
        if self.output_dir is not None:
            written.append(self.output_dir / f"{name}.json")
            written[-1].write_text(json.dumps(data, indent=2) + "\n")
            if self.fmt in DOCUMENT_FORMATS:
                written.append(self.output_dir / f"{name}.{self.fmt}")
                written[-1].write_text(export(result, self.fmt))
        self._print(label or str(video), video, result, data, images, written)

    def _print(
        self,
        label: str,
        video: Path,
        result: AnalysisResult,
        data: dict[str, Any],
        images: Sequence[str],
        written: Sequence[Path],
    ) -> None:
        if self.fmt == "json":
            line: dict[str, Any] = {"file": label, "result": data}
            if written:
                line["output"] = str(written[0])
            self.out.write(json.dumps(line) + "\n")
        elif self.fmt == "text":
            self.out.write(render_report(label, result) + "\n")
        elif not written:
            self.out.write(export(result, self.fmt))
        if written and self.fmt != "json":
            files = ", ".join(str(p) for p in written)
            if any(images):
                count = sum(1 for image in images if image)
                files += f" and {count} keyframes in {written[0].with_suffix('')}/"
            self.err.write(f"wrote {files}\n")
        self.out.flush()

    def error(self, label: str, code: str, message: str) -> None:
        """One line on stderr naming the file once; with --json, its line on stdout too."""
        prefix = f"{label}: "
        # Some messages already start with the file; never print it twice.
        text = message[len(prefix) :] if message.startswith(prefix) else message
        self.err.write(f"error: {label}: {text}\n")
        self.err.flush()
        if self.fmt == "json":
            self.out.write(json.dumps({"file": label, "error": {"code": code, "message": text}}))
            self.out.write("\n")
            self.out.flush()
