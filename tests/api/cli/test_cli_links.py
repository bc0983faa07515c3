"""``tiktok-analyzer analyze URL``: page links under the same settings as the service."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.api.cli.test_cli import CLI, _model_args
from tests.api.links.test_link_fetch import og_page
from tests.support.loopback import LoopbackSite, file_route


def test_a_page_link_is_analysed_and_a_dead_one_reported(
    tiny_model_dir: Path, short_video: Path
) -> None:
    web = LoopbackSite()
    web.routes["/clip.mp4"] = file_route(short_video.read_bytes())
    web.routes["/og"] = file_route(og_page(web.url("/clip.mp4"), "Pasta in 60 s"), "text/html")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TIKTOK_ANALYZER_LINK_SITES": "generic",
        "TIKTOK_ANALYZER_URL_ALLOW_PRIVATE": "true",
    }
    with web.running():
        args = [web.url("/og?token=s3cret"), web.url("/gone.mp4")]
        proc = subprocess.run(
            [*CLI, "analyze", *args, *_model_args(tiny_model_dir, frames=1), "--json"],
            capture_output=True, text=True, timeout=300, env=env, check=False,
        )  # fmt: skip
    assert proc.returncode == 2, proc.stderr  # the dead link is bad input
    page, gone = [json.loads(line) for line in proc.stdout.splitlines()]
    assert page["file"] == web.url("/og?token=***")
    assert page["result"]["source"]["title"] == "Pasta in 60 s"
    assert page["result"]["source"]["hashtags"] == ["pasta", "food"]
    assert (gone["file"], gone["error"]["code"]) == (web.url("/gone.mp4"), "url_fetch_failed")
    assert "s3cret" not in proc.stdout + proc.stderr
