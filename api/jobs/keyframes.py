"""Keyframe JPEGs beside the job: data/keyframes/<job id>/<n>.jpg, linked from the result."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from analyzers.stages.keyframes import write_keyframes


class KeyframeStore:
    """Keeps the JPEGs a worker sent with a finished job and finds them for the API."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def keep(self, job_id: str, jpegs: tuple[bytes | None, ...], result: dict[str, Any]) -> None:
        """Write the JPEGs and set ``frames[n].image`` in ``result``; a failed write is a
        warning in the result, never a failed job."""
        if not jpegs:
            return
        written, warnings = write_keyframes(list(jpegs), self.directory / job_id)
        for n, (frame, path) in enumerate(zip(result.get("frames", []), written, strict=False)):
            if path is not None:
                frame["image"] = f"/jobs/{job_id}/frames/{n}"
        result.setdefault("warnings", []).extend(warnings)

    def path(self, job_id: str, n: int) -> Path | None:
        """The JPEG of frame n, if it was kept (the id is checked against the store first)."""
        if not job_id.isalnum():
            return None  # ids are hex: nothing else may reach the file system
        path = self.directory / job_id / f"{n}.jpg"
        return path if path.is_file() else None

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.directory / job_id, ignore_errors=True)
