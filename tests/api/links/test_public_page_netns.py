"""A page on a host that counts as public, whose video points at a private address: refused.

The "public" host is an address put on loopback inside a network namespace this
test makes (``unshare -n``, as root): nothing can leave it, whatever the code does.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from pathlib import Path

import pytest

from api.errors import RequestRejected
from api.jobs.address_guard import AddressGuard
from api.jobs.fetch import UrlDownload
from api.jobs.files import UploadFiles
from api.links.link_fetch import LinkFetcher
from tests.api.links.test_link_fetch import VIDEO, og_page
from tests.support import netns
from tests.support.loopback import LoopbackSite, file_route

#: a public address, present only on the namespace's loopback
PUBLIC = "93.184.216.34"


def _fetch_pages(spool: Path) -> dict[str, str]:
    """Runs inside the namespace: each page's outcome under the default guard."""
    web = LoopbackSite(bind=PUBLIC)
    web.routes["/clip.mp4"] = file_route(VIDEO)
    targets = {
        "/public": web.url("/clip.mp4"),
        "/loopback": f"http://127.0.0.1:{web.port}/clip.mp4",
        "/private": "http://10.1.2.3/clip.mp4",
        "/metadata": "http://169.254.169.254/latest/clip.mp4",
    }
    for path, video in targets.items():
        web.routes[path] = file_route(og_page(video), "text/html")
    guard = AddressGuard()
    fetcher = LinkFetcher(UrlDownload(UploadFiles(spool), guard, 1_000_000, 10), guard, ["generic"])
    outcomes: dict[str, str] = {}
    with web.running():
        for path in targets:
            try:
                upload, source = asyncio.run(fetcher.fetch(web.url(path)))
                outcomes[path] = f"fetched {upload.size} {source.title}"
            except RequestRejected as exc:
                outcomes[path] = exc.code
    return outcomes


@pytest.mark.skipif(not netns.available(), reason="needs root, unshare and ip")
def test_a_public_page_may_not_point_at_a_private_video(tmp_path: Path) -> None:
    code = (
        "import json, sys; from pathlib import Path;"
        "from tests.api.links.test_public_page_netns import _fetch_pages;"
        f"print(json.dumps(_fetch_pages(Path({str(tmp_path)!r}))))"
    )
    inner = f"ip addr add {PUBLIC}/32 dev lo && exec {shlex.join([sys.executable, '-c', code])}"
    done = netns.run_loopback_only(["sh", "-c", inner])
    assert done.returncode == 0, done.stderr
    outcomes = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcomes == {
        "/public": f"fetched {len(VIDEO)} Pasta in 60 s",
        "/loopback": "url_not_allowed",
        "/private": "url_not_allowed",
        "/metadata": "url_not_allowed",
    }
