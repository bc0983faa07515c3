"""The CLI's links (files or TikTok/Reels/Shorts pages), fetched under the service's settings.

The same LinkFetcher as ``POST /analyze`` with ``url``: the same sites
(``LINK_SITES``), address guard, size cap and time limit; the video goes to a
temporary folder that is removed when the run ends.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from analyzers.schema import Source
from api.jobs.address_guard import AddressGuard
from api.jobs.fetch import UrlDownload
from api.jobs.files import UploadFiles
from api.links.link_fetch import LinkFetcher
from api.settings import Settings


@dataclass(frozen=True)
class FetchedLink:
    """A link's video on disk, the name its outputs take, and its ``source``."""

    path: Path
    name: Path
    source: Source


class LinkInputs:
    """Fetches each link given on the command line into one temporary folder."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        guard = AddressGuard(allow_private=settings.url_allow_private)
        limit = int(settings.max_upload_mb * 1024 * 1024)
        download = UrlDownload(UploadFiles(folder), guard, limit, settings.url_timeout_s)
        self.fetcher = LinkFetcher(download, guard, settings.link_site_names())

    def fetch(self, url: str) -> FetchedLink:
        """The fetched video; RequestRejected (an input error: exit 2) when it cannot be had."""
        upload, source = asyncio.run(self.fetcher.fetch(url))
        assert upload.path is not None  # a fetch always spools a file
        stem = source.id or Path(upload.filename or "link").stem
        return FetchedLink(Path(upload.path), Path(f"{stem}.mp4"), source)


@contextmanager
def link_inputs(settings: Settings) -> Iterator[LinkInputs]:
    with tempfile.TemporaryDirectory(prefix="tiktok-analyzer-links-") as folder:
        yield LinkInputs(settings, Path(folder))
