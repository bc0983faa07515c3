"""yt-dlp's information about a post -> the result's ``source`` (analyzers.schema.Source)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from analyzers.schema import Music, Source
from api.masking import MASK, masked_url

#: a hashtag in a caption: '#' then word characters (any script), as the platforms link them
_HASHTAG = re.compile(r"(?<![\w&])#(\w+)")
_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def _secrets(url: str) -> list[str]:
    """The parts of ``url`` that masking hides (query values, user-info, fragment)."""
    parts = urlsplit(url.strip())
    found = [v for _, v in parse_qsl(parts.query, keep_blank_values=False)]
    found += [parts.netloc.rsplit("@", 1)[0]] if "@" in parts.netloc else []
    found += [parts.fragment] if parts.fragment else []
    return sorted({f for f in found if len(f) >= 3}, key=len, reverse=True)


def _scrubbed(source: Source, url: str) -> Source:
    # The generic extractor names a video after its link: a token in it must not show.
    secrets = _secrets(url)
    if not secrets:
        return source
    text = source.model_dump_json()
    for secret in secrets:
        text = text.replace(json.dumps(secret)[1:-1], MASK)
    return Source.model_validate_json(text)


def link_source(url: str) -> Source:
    """The ``source`` of a direct file link: only its (masked) URL."""
    return Source(url=masked_url(url))


def _text(info: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _count(info: Mapping[str, Any], key: str) -> int | None:
    value = info.get(key)
    return int(value) if isinstance(value, int | float) and value >= 0 else None


def _hashtags(info: Mapping[str, Any], description: str | None) -> list[str] | None:
    # TikTok and Instagram give no tags: the caption's '#words' are the hashtags.
    tags = [t.strip().lstrip("#") for t in info.get("tags") or [] if isinstance(t, str)]
    found = [t for t in tags if t] or _HASHTAG.findall(description or "")
    return list(dict.fromkeys(found)) or None


def _date(info: Mapping[str, Any]) -> str | None:
    match = _DATE.match(str(info.get("upload_date") or ""))
    return "-".join(match.groups()) if match else None


def _artist(info: Mapping[str, Any]) -> str | None:
    artists = info.get("artists")
    if isinstance(artists, list) and artists and all(isinstance(a, str) for a in artists):
        return ", ".join(artists)
    return _text(info, "artist")


def _music(info: Mapping[str, Any]) -> Music | None:
    title, artist = _text(info, "track"), _artist(info)
    return Music(title=title, artist=artist) if title or artist else None


def page_source(url: str, site: str | None, info: Mapping[str, Any]) -> Source:
    """The ``source`` of a page link from yt-dlp's info dict; absent fields become null."""
    description = _text(info, "description")
    duration = info.get("duration")
    source = Source(
        url=masked_url(url),
        site=site or _text(info, "extractor_key", "extractor"),
        id=_text(info, "id", "display_id"),
        title=_text(info, "title", "fulltitle"),
        description=description,
        hashtags=_hashtags(info, description),
        uploader=_text(info, "uploader", "channel", "uploader_id"),
        upload_date=_date(info),
        duration_s=float(duration) if isinstance(duration, int | float) else None,
        view_count=_count(info, "view_count"),
        like_count=_count(info, "like_count"),
        comment_count=_count(info, "comment_count"),
        music=_music(info),
    )
    return _scrubbed(source, url)
