"""The one owner of uploaded videos on disk: created at intake, removed when the job ends."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

log = logging.getLogger("api.jobs.files")


class UploadFiles:
    """Spooled uploads live in one folder under names of their own (never the client's)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def new_path(self) -> Path:
        """Where the next upload is written; the folder is created on demand."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return (self.directory / uuid.uuid4().hex).resolve()

    @staticmethod
    def remove(path: Path | None) -> None:
        """Forget an upload: its job ended, or it never became a job."""
        if path is not None:
            path.unlink(missing_ok=True)

    def remove_orphans(self, keep: set[Path]) -> int:
        """Delete spooled files no queued or running job needs (a crash mid-upload leaves some)."""
        if not self.directory.is_dir():
            return 0
        keep = {p.resolve() for p in keep}
        removed = 0
        for path in self.directory.iterdir():
            if path.is_file() and path.resolve() not in keep:
                path.unlink(missing_ok=True)
                removed += 1
        if removed:
            log.info("removed %d orphaned upload(s)", removed)
        return removed
