"""Exports of a result: Markdown, SRT and WebVTT (read back with FFmpeg's demuxers), JSON."""

from __future__ import annotations

import re
from pathlib import Path

import av
import pytest

from analyzers.output.exports import (
    EXPORT_FORMATS,
    cues,
    export,
    to_json,
    to_markdown,
    to_srt,
    to_vtt,
)
from analyzers.schema import (
    AnalysisResult,
    AspectAnswer,
    FrameDescription,
    ModelInfo,
    Shot,
    TextOverlay,
    Timings,
    Transcript,
    TranscriptSegment,
    VideoInfo,
)


@pytest.fixture(scope="module")
def result() -> AnalysisResult:
    times = [1.0, 3.0, 5.0, 7.0]
    captions = ["a man in a kitchen", "a man in a kitchen", "a plate of pasta", "a plate of pasta"]
    return AnalysisResult(
        video=VideoInfo(
            duration_s=8.0,
            fps=30.0,
            frame_count=240,
            width=720,
            height=1280,
            orientation="vertical",
            codec="h264",
            has_audio=True,
        ),
        model=ModelInfo(name="tiny", quantization="fp32", device="cpu", test_model=True),
        frames=[
            FrameDescription(
                timestamp_s=t,
                caption=c,
                aspects={"scene": "a kitchen"},
                shot=i // 2,
                image=f"/jobs/j1/frames/{i}",
            )
            for i, (t, c) in enumerate(zip(times, captions, strict=True))
        ],
        aspects={
            "scene": [
                AspectAnswer(text="a kitchen", frames=3, time_ranges=[(1.0, 3.0), (7.0, 7.0)]),
                AspectAnswer(
                    text="a <b>table</b> & chairs | --> x", frames=1, time_ranges=[(5.0, 5.0)]
                ),
            ],
            "text": [AspectAnswer(text="a sign", frames=4, time_ranges=[(1.0, 7.0)])],
        },
        summary="Mostly: a man in a kitchen. Cut into 2 shots.",
        timings=Timings(
            decode_s=1.0, inference_s=2.0, total_s=3.0, realtime_factor=0.375, stages_s={"ocr": 0.2}
        ),
        warnings=["the speech model is the random-weight test model"],
        shots=[Shot(index=0, start_s=0.0, end_s=4.0), Shot(index=1, start_s=4.0, end_s=8.0)],
        text_overlays=[TextOverlay(text="FOLLOW FOR MORE", start_s=1.0, end_s=3.0, confidence=0.9)],
        transcript=Transcript(
            language="en",
            text="hello there. today we cook",
            segments=[
                TranscriptSegment(start_s=0.5, end_s=1.8, text="hello there."),
                TranscriptSegment(start_s=4.2, end_s=4.2, text="today we cook"),
            ],
        ),
    )


def test_cues_cover_the_stretch_each_frame_stands_for(result: AnalysisResult) -> None:
    found = {(c.text, c.start_s, c.end_s) for c in cues(result)}
    # Frames at 1, 3, 5, 7 s stand for [0, 2], [2, 4], [4, 6], [6, 8].
    assert ("[scene] a kitchen", 0.0, 4.0) in found
    assert ("[scene] a kitchen", 6.0, 8.0) in found
    assert ("[text] FOLLOW FOR MORE", 0.0, 4.0) in found
    assert ("[caption] a plate of pasta", 4.0, 8.0) in found
    assert ("today we cook", 4.2, 5.2) in found  # a moment lasts at least a second
    starts = [c.start_s for c in cues(result)]
    assert starts == sorted(starts)


def _demux(path: Path) -> list[tuple[float, str]]:
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        return [
            (float(p.pts * p.time_base), bytes(p).decode())
            for p in container.demux(stream)
            if p.size
        ]


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_read_back_with_ffmpeg(result: AnalysisResult, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"result.{fmt}"
    path.write_text(export(result, fmt), encoding="utf-8")
    packets = _demux(path)
    assert len(packets) == len(cues(result))
    texts = " ".join(text for _, text in packets)
    assert "hello there." in texts and "[text] FOLLOW FOR MORE" in texts
    assert "-->" not in texts  # would have broken the cue
    assert [t for t, _ in packets] == sorted(t for t, _ in packets)


def test_srt_and_vtt_shapes(result: AnalysisResult) -> None:
    srt = to_srt(result)
    assert srt.startswith("1\n00:00:00,000 --> 00:00:0")
    assert re.search(r"^\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}$", srt, re.M)
    vtt = to_vtt(result)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> ")
    assert "&lt;b&gt;table&lt;/b&gt; &amp; chairs" in vtt


def test_markdown_report(result: AnalysisResult) -> None:
    md = to_markdown(result)
    for heading in (
        "# Video analysis",
        "## Summary",
        "## Shots",
        "## On-screen text",
        "## Transcript",
        "## Aspects",
        "## Frames",
        "## Warnings",
        "## Timings",
    ):
        assert f"\n{heading}\n" in f"\n{md}"
    assert "| 1.0-3.0 s | FOLLOW FOR MORE | 0.90 |" in md
    assert "![frame](/jobs/j1/frames/2)" in md
    assert r"\| \-\-\> x" in md or r"\| --\> x" in md  # a pipe cannot end the table cell
    assert "random-weight test model" in md


def test_json_round_trips(result: AnalysisResult) -> None:
    assert AnalysisResult.model_validate_json(to_json(result)) == result


def test_formats_and_unknown_format(result: AnalysisResult) -> None:
    assert EXPORT_FORMATS == ("md", "srt", "vtt", "json")
    assert all(export(result, fmt) for fmt in EXPORT_FORMATS)
    with pytest.raises(ValueError, match="md, srt, vtt, json"):
        export(result, "pdf")


def test_result_without_stages_exports(result: AnalysisResult) -> None:
    bare = result.model_copy(update={"shots": None, "text_overlays": None, "transcript": None})
    assert "## Transcript" not in to_markdown(bare)
    assert all(not c.text.startswith("[text]") for c in cues(bare))
    # Without OCR, the caption model's answer about the text is all there is: it is a cue.
    assert any(c.text == "[on-screen text] a sign" for c in cues(bare))


def test_ocr_replaces_the_models_guess_at_text(result: AnalysisResult) -> None:
    assert not any(c.text.startswith("[on-screen text]") for c in cues(result))
    assert "### On-screen text (the caption model's guess" in to_markdown(result)


HOSTILE_CUE_TEXTS = [
    "-->",
    "--->",
    "---->",
    "----------->",
    "-- >",
    "--\n>",
    "-\n->",
    "a --> b ---> c",
    "--<b>></b>",
    "-<i></i>->",
    "--{\\an8}>",
    "<b>--</b>>",
    "—>",
    "<<-->>",
    "\n\n-->\n\n",
    "x\n\n1\n00:00:00,000 --> 00:00:01,000\ny",
]


@pytest.mark.parametrize("text", HOSTILE_CUE_TEXTS)
@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_no_cue_text_line_holds_an_arrow(result: AnalysisResult, fmt: str, text: str) -> None:
    hostile = result.model_copy(
        update={
            "transcript": Transcript(
                language="en",
                text=text,
                segments=[TranscriptSegment(start_s=0.5, end_s=1.5, text=text)],
            )
        }
    )
    out = export(hostile, fmt)
    timing = re.compile(r"^\d\d:\d\d:\d\d[,.]\d{3} --> \d\d:\d\d:\d\d[,.]\d{3}$")
    lines = [line for line in out.splitlines() if "-->" in line]
    assert lines and all(timing.match(line) for line in lines), lines
    assert len(lines) == len(cues(hostile))


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a <b>table</b> & chairs", "a table & chairs"),
        ('<font color="red">red</font>', "red"),
        ("{\\an8}top", "top"),
        ("<i>x", "x"),
        ("a < b", "a < b"),
    ],
)
def test_srt_strips_tags(result: AnalysisResult, text: str, shown: str) -> None:
    hostile = result.model_copy(
        update={
            "transcript": Transcript(
                language="en",
                text=text,
                segments=[TranscriptSegment(start_s=0.5, end_s=1.5, text=text)],
            )
        }
    )
    srt = to_srt(hostile)
    assert f"\n{shown}\n" in srt
    assert not re.search(r"<[^>\n]*>", srt)
