"""One link to a spooled video and its ``source``: a file link fetched, a page link extracted first.

A link whose shape an allowed site's extractor takes (a TikTok, Reels or Shorts
link) is extracted; any other link is fetched as a file, and only when it turns
out to be a web page is it extracted, by the generic extractor where allowed.
The media is always downloaded by UrlDownload (pinned, redirects checked, capped),
and the whole link, extraction included, keeps to one deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from analyzers.schema import Source
from api.errors import RequestRejected
from api.jobs.address_guard import AddressGuard
from api.jobs.fetch import UrlDownload, parse_url
from api.jobs.multipart import Upload
from api.links.extract import Media, extract
from api.links.failures import page_refused, timed_out
from api.links.sites import (
    GENERIC,
    canonical_link,
    load_extractors,
    matching_site,
    site_of_extractor,
)
from api.links.source import link_source, page_source


class LinkFetcher:
    """Fetches one link (file or page) within the size cap and URL_TIMEOUT_S."""

    def __init__(self, download: UrlDownload, guard: AddressGuard, sites: Sequence[str]) -> None:
        self.download, self.guard, self.sites = download, guard, tuple(sites)
        # Loads yt-dlp's extractor classes now (under a second), not in a request's event loop.
        if self.sites:
            load_extractors()

    async def fetch(self, raw_url: str) -> tuple[Upload, Source]:
        """The spooled video and its source; RequestRejected naming what went wrong."""
        parse_url(raw_url)
        deadline = time.monotonic() + self.download.timeout_s
        link = canonical_link(raw_url)
        site = matching_site(link, self.sites)
        if site is None:
            try:
                return await self.download.fetch(raw_url), link_source(raw_url)
            except RequestRejected as exc:
                if exc.code != "not_a_video_link":
                    raise
                if GENERIC not in self.sites:
                    raise page_refused(self.sites) from None
            site = GENERIC
        media = await self._extract(link, site, deadline)
        upload = await self.download.fetch(media.url, media.headers, deadline - time.monotonic())
        extractor = media.info.get("extractor")
        found = site_of_extractor(extractor if isinstance(extractor, str) else None)
        return upload, page_source(raw_url, found or site, media.info)

    async def _extract(self, url: str, site: str, deadline: float) -> Media:
        # Only the matched site's extractors: a TikTok link never reaches the generic one.
        work = asyncio.to_thread(
            extract,
            url,
            (site,),
            self.guard,
            max_bytes=self.download.max_bytes,
            deadline=deadline,
            timeout_s=self.download.timeout_s,
        )
        try:
            return await asyncio.wait_for(work, max(deadline - time.monotonic(), 0.0))
        except asyncio.TimeoutError:
            raise timed_out(self.download.timeout_s) from None
