"""The allow-list: each site's link shapes, matched by the extractors it names and nothing else."""

from __future__ import annotations

import re

import pytest
from yt_dlp.extractor import gen_extractor_classes

from api.links.sites import (
    SITE_EXTRACTORS,
    canonical_link,
    extractor_names,
    matching_site,
    parse_sites,
)
from api.settings import load_settings

DEFAULT = ("tiktok", "instagram", "youtube")
#: link shapes each platform gives out, and the site that must take them
SHAPES = [
    ("https://www.tiktok.com/@scout2015/video/6718335390845095173", "tiktok"),
    ("https://www.tiktok.com/@scout2015/video/6718335390845095173?is_from_webapp=1", "tiktok"),
    ("https://m.tiktok.com/@scout2015/video/6718335390845095173", "tiktok"),
    ("https://m.tiktok.com/v/6718335390845095173.html", "tiktok"),
    ("https://vm.tiktok.com/ZMe1kqr2P/", "tiktok"),
    ("https://vt.tiktok.com/ZSe4FqkKd/", "tiktok"),
    ("https://www.tiktok.com/t/ZTRC5xgJp/", "tiktok"),
    ("https://www.instagram.com/reel/CzA1b2c3D4e/", "instagram"),
    ("https://www.instagram.com/reels/CzA1b2c3D4e/", "instagram"),
    ("https://www.instagram.com/p/CzA1b2c3D4e/", "instagram"),
    ("https://www.youtube.com/shorts/dQw4w9WgXcQ", "youtube"),
    ("https://youtube.com/shorts/dQw4w9WgXcQ?si=abc", "youtube"),
    ("https://youtu.be/dQw4w9WgXcQ", "youtube"),
]
#: links no allowed site takes: fetched as files (and refused as pages unless generic is on)
OTHERS = [
    "https://www.tiktok.com/@scout2015",
    "https://www.tiktok.com/tag/food",
    "https://www.instagram.com/stories/someone/",
    "https://www.youtube.com/playlist?list=PL1234567890",
    "https://vimeo.com/12345",
    "https://cdn.example.com/clip.mp4",
]


@pytest.mark.parametrize(("url", "site"), SHAPES)
def test_each_platform_link_shape_is_taken_by_its_site(url: str, site: str) -> None:
    assert matching_site(canonical_link(url), DEFAULT) == site
    others = tuple(s for s in DEFAULT if s != site)
    assert matching_site(canonical_link(url), others) is None


@pytest.mark.parametrize("url", OTHERS)
def test_other_links_match_no_site(url: str) -> None:
    assert matching_site(canonical_link(url), (*DEFAULT, "generic")) is None


def test_the_named_extractors_exist_and_nothing_else_is_allowed() -> None:
    names = {ie.IE_NAME for ie in gen_extractor_classes()}
    for extractors in SITE_EXTRACTORS.values():
        assert set(extractors) <= names
    allowed = extractor_names(["tiktok"])
    taken = {n for n in names if any(re.fullmatch(p, n, re.I) for p in allowed)}
    assert taken == {"TikTok", "vm.tiktok"}


def test_the_setting_is_checked_and_normalised() -> None:
    assert load_settings().link_site_names() == DEFAULT
    assert load_settings(link_sites=" TikTok , generic,").link_site_names() == (
        "tiktok",
        "generic",
    )
    assert load_settings(link_sites="").link_site_names() == ()
    with pytest.raises(ValueError, match="unknown link site vimeo"):
        parse_sites("tiktok,vimeo")
