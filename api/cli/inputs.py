"""The CLI's inputs: files, folders (searched recursively), glob patterns and links."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: file name endings taken from folders and patterns; a file named explicitly is always tried
VIDEO_EXTENSIONS = (
    ".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".flv", ".wmv",
    ".mpg", ".mpeg", ".3gp", ".ts", ".mts", ".m2ts", ".ogv",
)  # fmt: skip


@dataclass(frozen=True)
class InputProblem:
    """An argument that names no video; reported like a failed file."""

    argument: str
    code: str
    message: str


@dataclass
class Inputs:
    """The videos to analyse, in order and without repeats, and the arguments that gave none."""

    videos: list[Path]
    problems: list[InputProblem]
    #: http(s) links, fetched when their turn comes (after the files)
    links: list[str] = field(default_factory=list)


def is_link(argument: str) -> bool:
    return argument.strip().lower().startswith(("http://", "https://"))


def is_video_name(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def _videos_under(folder: Path) -> Iterator[Path]:
    """Video files below ``folder`` in a stable order; hidden files and folders are skipped.

    Hidden names are skipped because macOS leaves ``._clip.mp4`` metadata files beside
    every video on a shared drive, and those are not videos.
    """
    for root, dirs, files in os.walk(folder):  # does not follow links: no loops
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if not name.startswith(".") and is_video_name(path):
                yield path


def _expand_one(argument: str) -> tuple[list[Path], InputProblem | None]:
    path = Path(argument)
    if path.is_dir():
        found = list(_videos_under(path))
        if not found:
            return [], InputProblem(argument, "no_videos", "no video files in this folder")
        return found, None
    if path.exists() or path.is_symlink():
        return [path], None  # named explicitly: the analysis says if it is not a video
    if glob.has_magic(argument):
        found = []
        for match in sorted(glob.glob(argument, recursive=True)):
            match_path = Path(match)
            if match_path.is_dir():
                found.extend(_videos_under(match_path))
            elif is_video_name(match_path) and not match_path.name.startswith("."):
                found.append(match_path)
        if not found:
            return [], InputProblem(argument, "no_match", "no video file matches this pattern")
        return found, None
    return [], InputProblem(argument, "no_such_file", "no such file")


def expand_inputs(arguments: Sequence[str]) -> Inputs:
    """Every video the arguments name, first mention first; a file named twice runs once."""
    inputs = Inputs(videos=[], problems=[])
    seen: set[Path] = set()
    for argument in arguments:
        if is_link(argument):
            if argument not in inputs.links:
                inputs.links.append(argument)
            continue
        found, problem = _expand_one(argument)
        if problem is not None:
            inputs.problems.append(problem)
        for video in found:
            key = video.resolve()
            if key not in seen:
                seen.add(key)
                inputs.videos.append(video)
    return inputs
