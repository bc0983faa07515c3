"""Integrated loudness per EBU R128, measured by FFmpeg's ebur128 filter on decoded samples.

The samples are the ones the decode pass already holds (16 kHz mono float32): the file
is not opened again. They are pushed through a PyAV filter graph (abuffer -> ebur128
with metadata -> abuffersink) and the last frame's ``lavfi.r128.I`` is the programme's
integrated loudness, gated as R128 says (absolute gate at -70 LUFS, relative at -10 LU).
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from av.filter import Graph

#: what ebur128 reports for silence (everything below the absolute gate)
SILENCE_LUFS = -70.0
#: samples pushed per frame into the graph
_CHUNK = 16000


def integrated_loudness(samples: np.ndarray, rate: int) -> float | None:
    """Integrated loudness in LUFS of mono float samples; None for an empty track."""
    if len(samples) == 0:
        return None
    graph = Graph()
    source = graph.add_abuffer(
        format="flt", sample_rate=rate, layout="mono", time_base=Fraction(1, rate)
    )
    meter = graph.add("ebur128", "metadata=1")
    sink = graph.add("abuffersink")
    source.link_to(meter)
    meter.link_to(sink)
    graph.configure()
    audio = np.ascontiguousarray(samples, dtype=np.float32)
    last: dict[str, str] = {}
    for start in range(0, len(audio), _CHUNK):
        frame = av.AudioFrame.from_ndarray(
            audio[None, start : start + _CHUNK], format="flt", layout="mono"
        )
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        graph.push(frame)
        last = _drain(graph) or last
    graph.push(None)
    last = _drain(graph) or last
    value = last.get("lavfi.r128.I")
    return None if value is None else max(SILENCE_LUFS, round(float(value), 2))


def _drain(graph: Graph) -> dict[str, str]:
    """Pull what the graph has ready; the metadata of the last frame pulled."""
    found: dict[str, str] = {}
    while True:
        try:
            frame = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return found
        found = dict(frame.metadata)
