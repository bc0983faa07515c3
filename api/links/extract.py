"""yt-dlp extraction of one page link: no download, no config, no cache, guarded requests.

It runs in a worker thread: yt-dlp is synchronous. The thread cannot be killed,
so the deadline is kept where the time goes: each of its requests (GuardedRH)
times out at the link's deadline and none starts after it, and a page body is
capped; the caller stops waiting at the deadline, and the thread ends soon after.
A child process would be killable, but would pay yt-dlp's import for every link.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from yt_dlp import YoutubeDL
from yt_dlp.networking import RequestDirector
from yt_dlp.utils import YoutubeDLError
from yt_dlp.YoutubeDL import _YDLLogger

from api.jobs.address_guard import AddressGuard
from api.links.failures import link_failure, unavailable
from api.links.guarded_handler import GuardedRH
from api.links.sites import extractor_names


def format_spec(max_bytes: int) -> str:
    """One progressive file over http(s): MP4/H.264 with audio first, at most 1080p, capped."""
    one_file = "[protocol^=http][protocol!*=dash]"
    capped = f"[filesize<?{max_bytes}][filesize_approx<?{max_bytes}][height<=?1080]"
    return "/".join(
        f"b{pick}{one_file}{capped}"
        for pick in ("[ext=mp4][vcodec~='^(avc|h264)'][acodec!=?none]", "[acodec!=?none]", "")
    )


@dataclass(frozen=True)
class Media:
    """The file a page link leads to, the headers its request needs, and the page's info."""

    url: str
    headers: dict[str, str]
    info: Mapping[str, Any]


class _Silent:
    """yt-dlp's messages go nowhere: the failures come back as exceptions."""

    def debug(self, msg: str) -> None:
        pass

    info = warning = error = debug


class _GuardedYDL(YoutubeDL):  # type: ignore[misc]  # yt-dlp is untyped
    """A YoutubeDL whose only request handler is GuardedRH."""

    def __init__(self, params: dict[str, Any], guard: AddressGuard, deadline: float) -> None:
        self.guard, self.deadline = guard, deadline
        self.guarded: GuardedRH | None = None
        super().__init__(params)

    def build_request_director(self, handlers: Any, preferences: Any = None) -> RequestDirector:
        logger = _YDLLogger(self)
        director = RequestDirector(logger=logger, verbose=False)
        self.guarded = GuardedRH(
            logger=logger,
            headers=self.params["http_headers"].copy(),
            cookiejar=self.cookiejar,
            timeout=self.params["socket_timeout"],
            guard=self.guard,
            deadline=self.deadline,
        )
        director.add_handler(self.guarded)
        return director


def _params(sites: Sequence[str], max_bytes: int, timeout_s: float) -> dict[str, Any]:
    return {
        "allowed_extractors": extractor_names(sites),
        # The API reads no configuration file; said anyway, should that ever change.
        "ignoreconfig": True,
        "cachedir": False,
        "skip_download": True,
        "noplaylist": True,
        "playlist_items": "1",
        "postprocessors": [],
        "format": format_spec(max_bytes),
        "check_formats": False,
        "socket_timeout": timeout_s,
        "extractor_retries": 0,
        "retries": 0,
        "usenetrc": False,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _Silent(),
    }


def _video(info: Mapping[str, Any]) -> Mapping[str, Any]:
    entries = info.get("entries") if info.get("_type") == "playlist" else None
    if entries is None:
        return info
    first = next((e for e in entries if e), None)
    if first is None:
        raise unavailable("the page holds no video")
    return dict(first)


def extract(
    url: str,
    sites: Sequence[str],
    guard: AddressGuard,
    *,
    max_bytes: int,
    deadline: float,
    timeout_s: float,
) -> Media:
    """The media of page ``url`` (blocking); RequestRejected when it cannot be had."""
    left = max(deadline - time.monotonic(), 0.1)
    ydl = _GuardedYDL(_params(sites, max_bytes, left), guard, deadline)
    try:
        with ydl:
            info = _video(ydl.extract_info(url, download=False))
            media_url = info.get("url")
            if not isinstance(media_url, str):
                raise unavailable("the page gives no single file to download")
            headers = {str(k): str(v) for k, v in (info.get("http_headers") or {}).items()}
            cookie = ydl.cookiejar.get_cookie_header(media_url)
    except YoutubeDLError as exc:
        raise link_failure(exc, ydl.guarded, sites, timeout_s) from None
    if cookie:
        headers["Cookie"] = cookie
    return Media(url=media_url, headers=headers, info=info)
