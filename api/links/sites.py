"""``LINK_SITES`` -> the yt-dlp extractors tried, and which of them a link's shape matches."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

#: each site name of the setting and the yt-dlp extractors (IE_NAME) it allows
SITE_EXTRACTORS: dict[str, tuple[str, ...]] = {
    # video pages (www, m) and the short links (vm., vt., www.tiktok.com/t/)
    "tiktok": ("TikTok", "vm.tiktok"),
    # posts and Reels
    "instagram": ("Instagram",),
    # Shorts, watch pages and youtu.be links
    "youtube": ("youtube",),
    # any web page with a video in it: Open Graph tags, and html5 for a <video> element
    "generic": ("generic", "html5"),
}
DEFAULT_SITES = ("tiktok", "instagram", "youtube")
#: TikTok's mobile links, which yt-dlp's extractor does not take as they are
_TIKTOK_MOBILE = re.compile(r"^(https?://)m\.tiktok\.com/(?:v/(\d+)(?:\.html)?(?=[?#]|$))?", re.I)
GENERIC = "generic"


def parse_sites(raw: str | Iterable[str]) -> tuple[str, ...]:
    """The site names of the setting, lower-cased and checked; ValueError names unknown ones."""
    names = raw.split(",") if isinstance(raw, str) else list(raw)
    sites = tuple(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    unknown = [s for s in sites if s not in SITE_EXTRACTORS]
    if unknown:
        raise ValueError(
            f"unknown link site {', '.join(unknown)}; known: {', '.join(SITE_EXTRACTORS)}"
        )
    return sites


def extractor_names(sites: Iterable[str]) -> list[str]:
    """yt-dlp's ``allowed_extractors`` for ``sites``: exact names, nothing else ever tried."""
    return [re.escape(n) for site in sites for n in SITE_EXTRACTORS[site]]


def canonical_link(url: str) -> str:
    """``url`` as the extractors know it: a TikTok mobile link on www (the rest unchanged)."""
    return _TIKTOK_MOBILE.sub(
        lambda m: f"{m[1]}www.tiktok.com/" + (f"embed/{m[2]}" if m[2] else ""), url.strip(), 1
    )


@functools.cache
def _classes() -> dict[str, Any]:
    # Imported here: the settings read this module, and workers need not load yt-dlp.
    from yt_dlp.extractor import gen_extractor_classes

    return {ie.IE_NAME: ie for ie in gen_extractor_classes()}


def load_extractors() -> None:
    """Import yt-dlp's extractor classes now, so no request waits for it."""
    _classes()


def matching_site(url: str, sites: Iterable[str]) -> str | None:
    """The allowed site (generic aside) whose extractors take ``url`` by its shape, if any."""
    classes = _classes()
    for site in sites:
        if site == GENERIC:
            continue
        if any(classes[name].suitable(url) for name in SITE_EXTRACTORS[site]):
            return site
    return None


def site_of_extractor(extractor: str | None) -> str | None:
    """The site name an extractor (``info['extractor']``) belongs to."""
    for site, names in SITE_EXTRACTORS.items():
        if extractor is not None and extractor.lower() in (n.lower() for n in names):
            return site
    return None
