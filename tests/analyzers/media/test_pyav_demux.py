"""Leaving a demux or decode loop early frees PyAV's packets (a leak the front had per upload)."""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest

from analyzers.media.pyav_demux import decode_frames, demux_packets
from analyzers.testing.clips import make_video
from monitoring.heap import malloc_in_use_bytes

REPO = Path(__file__).resolve().parents[3]
ROUNDS = 3000


def _malloc_in_use() -> Callable[[], int]:
    """Bytes malloc has handed out and not had back, precise to the byte, after a collection."""
    if malloc_in_use_bytes() is None:
        pytest.skip("needs glibc 2.33 or later (mallinfo2)")

    def in_use() -> int:
        gc.collect()
        return malloc_in_use_bytes() or 0

    return in_use


@pytest.fixture(scope="module")
def short_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(
        tmp_path_factory.mktemp("demux") / "short.mp4", width=64, height=96, duration_s=1, fps=10
    )


def _growth_per_round(video: Path, leave_early: Callable[[Any, Any], None]) -> float:
    in_use = _malloc_in_use()

    def one() -> None:
        with av.open(str(video)) as container:
            leave_early(container, container.streams.video[0])

    for _ in range(100):  # warm caches and pools up first
        one()
    before = in_use()
    for _ in range(ROUNDS):
        one()
    return (in_use() - before) / ROUNDS


def _first_packet(container: Any, stream: Any) -> None:
    for _packet in demux_packets(container, stream):
        break


def _first_frame(container: Any, stream: Any) -> None:
    for _frame in decode_frames(container, stream):
        break


def _first_packet_plain(container: Any, stream: Any) -> None:
    for _packet in container.demux(stream):
        break


@pytest.mark.parametrize("leave_early", [_first_packet, _first_frame], ids=["demux", "decode"])
def test_leaving_early_keeps_nothing(short_video: Path, leave_early: Callable[..., None]) -> None:
    assert _growth_per_round(short_video, leave_early) < 16  # bytes per round; plain PyAV: ~155


def test_plain_pyav_still_leaks_so_the_wrapper_is_needed(short_video: Path) -> None:
    # When a PyAV release fixes this, this test fails: the wrapper may then go.
    assert _growth_per_round(short_video, _first_packet_plain) > 64


def test_no_code_demuxes_around_the_wrapper() -> None:
    plain = re.compile(r"\.demux\(|container\.decode\(")
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for package in ("api", "analyzers", "monitoring")
        for path in sorted((REPO / package).rglob("*.py"))
        if path.name != "pyav_demux.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if plain.search(line)
    ]
    assert offenders == []
