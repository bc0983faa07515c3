"""yt-dlp's errors -> our refusals: 415 for a page we may not follow, 422 ``link_unavailable``."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from yt_dlp.networking.exceptions import network_exceptions
from yt_dlp.utils import DownloadError, ExtractorError, GeoRestrictedError, UnsupportedError

from api.errors import RequestRejected, shorten
from api.jobs.address_guard import unfetchable
from api.links.guarded_handler import GuardedRH

log = logging.getLogger("api.links")

#: the part of yt-dlp's messages that speaks to its command-line users, not to ours
_CLI_ADVICE = re.compile(r"\s*(?:Use|Pass|See|Try|Confirm)\b[^.]*--.*$|\s*\(caused by .*$", re.S)
_BROKEN = (
    "the site's page could not be read: its extractor may be out of date after a change "
    "on the site; the operator should update yt-dlp (see docs/operations.md)"
)


def page_refused(sites: Iterable[str]) -> RequestRejected:
    """415 for a web page of a site that is not allowed, naming the ones that are."""
    allowed = [s for s in sites if s != "generic"]
    named = ", ".join(allowed) if allowed else "none"
    return RequestRejected(
        "not_a_video_link",
        "the link leads to a web page, not a video file, and pages of this site are not "
        f"accepted (page links accepted from: {named}); give a direct link to the video file",
    )


def timed_out(timeout_s: float) -> RequestRejected:
    return RequestRejected("url_timeout", f"the download did not finish within {timeout_s:g} s")


def unavailable(reason: str) -> RequestRejected:
    return RequestRejected("link_unavailable", f"the post cannot be fetched: {reason}")


def _platform_reason(error: ExtractorError) -> str:
    text = _CLI_ADVICE.sub("", error.orig_msg).strip().rstrip(".:;,")
    return shorten(text or "the site gave no reason", 160)


def _is_network(error: BaseException) -> bool:
    cause = getattr(error, "cause", None)
    return isinstance(error, network_exceptions) or isinstance(cause, network_exceptions)


def link_failure(
    exc: BaseException, handler: GuardedRH | None, sites: Iterable[str], timeout_s: float
) -> RequestRejected:
    """The refusal a failed extraction stands for; the full story goes to the log."""
    if handler is not None and handler.refusal is not None:
        return handler.refusal  # the address guard said no: 400 url_not_allowed
    if handler is not None and handler.timed_out:
        return timed_out(timeout_s)
    inner = exc.exc_info[1] if isinstance(exc, DownloadError) and exc.exc_info else exc
    log.info("page link not extracted: %r", exc)
    if isinstance(inner, UnsupportedError):
        return page_refused(sites) if "generic" not in sites else _no_video()
    if _is_network(inner):
        return unfetchable(f"extraction: {inner!r}")
    if isinstance(inner, GeoRestrictedError):
        return unavailable(f"not available in the server's region ({_platform_reason(inner)})")
    if isinstance(inner, ExtractorError) and inner.expected:
        if inner.orig_msg.startswith("Requested format is not available"):
            return unavailable("no single-file format of at most 1080p within the size limit")
        return unavailable(_platform_reason(inner))
    return RequestRejected("link_unavailable", _BROKEN)


def _no_video() -> RequestRejected:
    return RequestRejected(
        "not_a_video_link", "the link leads to a web page in which no video was found"
    )
