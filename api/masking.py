"""Links shown or logged without their secrets: user-info and query values masked.

A link a client gives (a signed CDN link, ``https://user:pass@host/v.mp4?token=...``)
is kept whole only where it is fetched or delivered to; everywhere it is shown
(``/jobs``, ``/board``) or logged, it goes through ``masked_url``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: what stands in for a secret
MASK = "***"
#: query parameters of our own routes that carry a link (masked in the access log)
LINK_PARAMETERS = frozenset({"url", "callback_url"})


def masked_url(raw: str) -> str:
    """``raw`` with its user-info, query values and fragment replaced by ``***``."""
    try:
        parts = urlsplit(raw.strip())
        netloc = parts.netloc
    except ValueError:
        return MASK  # not even a link: nothing of it is safe to show
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = "&".join(_masked_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    fragment = MASK if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def _masked_pair(pair: str) -> str:
    # The key stays (it says what was there); a value, or a bare word, may be the secret.
    key, equals, value = pair.partition("=")
    if not equals:
        return MASK if key else ""
    return f"{key}={MASK}" if value else f"{key}="


def masked_request_path(path: str) -> str:
    """A request path with the links given in its query (``url``, ``callback_url``) masked."""
    if "?" not in path:
        return path
    route, query = path.split("?", 1)
    pairs = [
        (key, masked_url(value) if key in LINK_PARAMETERS else value)
        for key, value in parse_qsl(query, keep_blank_values=True)
    ]
    return f"{route}?{urlencode(pairs, safe='*:/@')}"
