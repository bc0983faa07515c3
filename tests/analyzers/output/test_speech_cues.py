"""Speech as subtitle cues cut with the word times: two lines of 42 characters, 7 s at most."""

from __future__ import annotations

from pathlib import Path

import av

from analyzers.output.exports import cues, to_srt, to_vtt
from analyzers.output.speech_cues import MAX_CUE_S, MAX_LINE_CHARS, speech_cues
from analyzers.schema import (
    AnalysisResult,
    ModelInfo,
    Timings,
    Transcript,
    TranscriptSegment,
    TranscriptWord,
    VideoInfo,
)

TEXT = (
    "okay so today we are going to make the best fresh pasta you have ever had at home "
    "and it only takes flour eggs and a little bit of patience"
)


def _segment(text: str, start: float, pace_s: float = 0.35) -> TranscriptSegment:
    words = [
        TranscriptWord(text=w, start_s=round(start + i * pace_s, 3),
                       end_s=round(start + i * pace_s + 0.3, 3), probability=0.9)
        for i, w in enumerate(text.split())
    ]  # fmt: skip
    return TranscriptSegment(start_s=start, end_s=words[-1].end_s, text=text, words=words)


def _result(segments: list[TranscriptSegment], duration_s: float = 30.0) -> AnalysisResult:
    return AnalysisResult(
        video=VideoInfo(
            duration_s=duration_s,
            fps=30.0,
            frame_count=900,
            width=720,
            height=1280,
            orientation="vertical",
            codec="h264",
            has_audio=True,
        ),  # fmt: skip
        model=ModelInfo(name="tiny", quantization="fp32", device="cpu"),
        frames=[],
        aspects={},
        summary="",
        timings=Timings(decode_s=0, inference_s=0, total_s=0, realtime_factor=0),
        transcript=Transcript(
            language="en", text=" ".join(s.text for s in segments), segments=segments
        ),
    )


def test_a_long_segment_becomes_readable_cues() -> None:
    segment = _segment(TEXT, 2.0)
    found = speech_cues([segment], 30.0, 1.0)
    assert len(found) > 1
    assert " ".join(text.replace("\n", " ") for _, _, text in found) == TEXT  # nothing lost
    for start, end, text in found:
        lines = text.split("\n")
        assert 1 <= len(lines) <= 2 and all(len(line) <= MAX_LINE_CHARS for line in lines)
        assert end - start <= MAX_CUE_S
    # Cues follow the words: each starts when its first word is said, none overlaps the next.
    assert found[0][0] == 2.0
    assert all(a[1] <= b[0] for a, b in zip(found, found[1:], strict=False))


def test_two_lines_are_balanced_and_slow_speech_is_cut_at_7_s() -> None:
    (_, _, text), *_ = speech_cues([_segment("one two three four five six seven eight nine ten "
                                             "eleven twelve", 0.0)], 30.0, 1.0)  # fmt: skip
    first, second = text.split("\n")
    assert abs(len(first) - len(second)) <= 8
    slow = speech_cues([_segment("a b c d e f g h i j", 0.0, pace_s=1.5)], 30.0, 1.0)
    # A pause of 1.2 s between words starts a new cue; each cue holds under 7 s of speech.
    assert all(end - start <= MAX_CUE_S for start, end, _ in slow) and len(slow) > 1


def test_a_short_word_is_shown_a_second_and_old_segments_stay_whole() -> None:
    word = _segment("hi", 5.0)
    old = TranscriptSegment(start_s=9.0, end_s=9.5, text="no word times here")
    assert speech_cues([word, old], 30.0, 1.0) == [
        (5.0, 6.0, "hi"),
        (9.0, 10.0, "no word times here"),
    ]


def test_srt_and_vtt_keep_the_two_lines_and_read_back(tmp_path: Path) -> None:
    result = _result([_segment(TEXT, 2.0)])
    srt, vtt = to_srt(result), to_vtt(result)
    two_line = [c.text for c in cues(result) if "\n" in c.text]
    assert two_line and two_line[0] in srt and two_line[0] in vtt
    for name, text in (("s.srt", srt), ("s.vtt", vtt)):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with av.open(str(path)) as container:
            packets = [p for p in container.demux(container.streams.subtitles[0]) if p.size]
        assert len(packets) == len(cues(result))
