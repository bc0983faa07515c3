"""yt-dlp's information -> ``source``: each platform's fields, and null for what a site omits."""

from __future__ import annotations

from typing import Any

from api.links.source import link_source, page_source

#: shaped like yt-dlp's TikTok info (no tags: the hashtags are in the caption)
TIKTOK: dict[str, Any] = {
    "id": "7301234567890123456",
    "extractor": "TikTok",
    "extractor_key": "TikTok",
    "title": "pasta in 60s #food #Cooking",
    "description": "pasta in 60s #food #Cooking #food",
    "uploader": "chef.anna",
    "upload_date": "20251103",
    "duration": 23,
    "view_count": 120034,
    "like_count": 9001,
    "comment_count": 87,
    "repost_count": 12,
    "track": "original sound",
    "artists": ["chef.anna"],
}
#: Instagram: a caption, no music fields, no view count
INSTAGRAM: dict[str, Any] = {
    "id": "CzA1b2c3D4e",
    "extractor": "Instagram",
    "title": "Video by someone",
    "description": "Sunset run 🏃 #running #sunset",
    "uploader": "Someone",
    "upload_date": "20250520",
    "duration": 14.6,
    "like_count": 512,
    "comment_count": 3,
}
#: YouTube Shorts: tags of its own, a music track with one artist field
YOUTUBE: dict[str, Any] = {
    "id": "dQw4w9WgXcQ",
    "extractor": "youtube",
    "title": "A short",
    "description": "no hashtags here",
    "tags": ["#shorts", "dance", "dance"],
    "channel": "Some Channel",
    "upload_date": "20240101",
    "duration": 59.0,
    "view_count": 10,
    "like_count": None,
    "track": "Song",
    "artist": "Band",
}


def test_tiktok_hashtags_come_from_the_caption_and_the_sound_is_kept() -> None:
    src = page_source("https://vm.tiktok.com/ZMe1kqr2P/?token=s3cret", "tiktok", TIKTOK)
    assert src.url == "https://vm.tiktok.com/ZMe1kqr2P/?token=***"
    assert (src.site, src.id, src.uploader) == ("tiktok", "7301234567890123456", "chef.anna")
    assert src.hashtags == ["food", "Cooking"]
    assert (src.upload_date, src.duration_s) == ("2025-11-03", 23.0)
    assert (src.view_count, src.like_count, src.comment_count) == (120034, 9001, 87)
    assert src.music is not None
    assert (src.music.title, src.music.artist) == ("original sound", "chef.anna")


def test_instagram_absent_fields_are_null() -> None:
    src = page_source("https://www.instagram.com/reel/CzA1b2c3D4e/", "instagram", INSTAGRAM)
    assert src.hashtags == ["running", "sunset"]
    assert src.view_count is None and src.music is None
    assert src.duration_s == 14.6


def test_youtube_tags_win_over_the_description() -> None:
    src = page_source("https://www.youtube.com/shorts/dQw4w9WgXcQ", "youtube", YOUTUBE)
    assert src.hashtags == ["shorts", "dance"]
    assert src.uploader == "Some Channel" and src.like_count is None
    assert src.music is not None and src.music.artist == "Band"


def test_an_empty_info_gives_only_the_link() -> None:
    src = page_source("https://example.com/page", None, {})
    assert src.model_dump(exclude={"url"}) == {k: None for k in src.model_dump() if k != "url"}
    assert (
        link_source("https://u:p@cdn.example.com/v.mp4").url == "https://***@cdn.example.com/v.mp4"
    )


def test_secrets_of_the_link_never_reach_other_fields() -> None:
    info = {"id": "page?token=s3cret-1", "title": "watch s3cret", "webpage_url_basename": "x"}
    src = page_source("https://u:pw@example.com/page?token=s3cret", "generic", info)
    assert "s3cret" not in src.model_dump_json()
    assert src.id == "page?token=***-1"
