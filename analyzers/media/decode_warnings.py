"""The warnings a result carries when its file could be read only in part."""

from __future__ import annotations

from collections.abc import Sequence

from analyzers.media.frame_table import FrameTable
from analyzers.media.pyav_frames import DecodeIssue
from analyzers.schema import VideoInfo


def completeness_warnings(info: VideoInfo, table: FrameTable) -> list[str]:
    """A warning when less of the file could be read than its header promised."""
    readable = table.span_s
    if table.complete and readable >= info.duration_s - max(1.0, 0.05 * info.duration_s):
        return []
    return [
        f"the file is incomplete: only {readable:.1f} s of its {info.duration_s:.1f} s "
        "could be read, and frames were sampled from that part"
    ]


def damage_warnings(issues: Sequence[DecodeIssue], got: int, wanted: int) -> list[str]:
    """Warnings for packets that did not decode and sampled frames lost with them."""
    warnings: list[str] = []
    if issues:
        warnings.append(
            f"the video is damaged: {len(issues)} frame(s) could not be decoded, the "
            f"first near {issues[0].time_s:.1f} s; frames after that may show artefacts"
        )
    if 0 < got < wanted:
        warnings.append(
            f"only {got} of {wanted} sampled frames could be decoded; "
            "the damaged parts of the video are not described"
        )
    return warnings
