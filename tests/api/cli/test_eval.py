"""`tiktok-analyzer eval`: the scores, and a run on one labelled clip the project makes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from api.cli.eval_metrics import (
    Counts,
    caption_scores,
    cut_counts,
    word_counts,
    word_error_rate,
)
from api.cli.evaluate import below_floors


def test_word_error_rate_ignores_case_and_punctuation() -> None:
    assert word_error_rate("Follow for more!", "follow for more") == 0.0
    assert word_error_rate("one two three four", "one two tree four") == 0.25
    assert word_error_rate("", "") == 0.0


def test_ocr_words_and_cuts_within_two_frames() -> None:
    counts = word_counts(["PART 2", "link in bio"], ["part 2", "link in b1o", "extra"])
    assert (counts.matched, counts.truth, counts.found) == (4, 5, 6)
    cuts = cut_counts([1.0, 2.0], [1.06, 2.2, 3.0], fps=30)
    assert (cuts.matched, cuts.recall, cuts.precision) == (1, 0.5, 1 / 3)
    assert (Counts(1, 2, 2) + Counts(1, 0, 0)).recall == 1.0


def test_caption_scores_offline() -> None:
    scores = caption_scores(["a man cooks pasta in a kitchen"], "a man cooks pasta in a kitchen")
    assert scores["bleu"] == pytest.approx(100.0) and scores["chrf"] == pytest.approx(100.0)


def test_floors() -> None:
    total = {"wer": 0.2, "ocr": {"recall": 0.96, "precision": 0.9}, "cuts": None}
    assert below_floors(total) == ["word error rate 0.2 > 0.15", "ocr precision 0.9 < 0.95"]
    assert below_floors({"wer": None, "ocr": None, "cuts": {"f1": 1.0}}) == []


def test_eval_on_a_labelled_clip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from analyzers.testing.eval_set import make_clip

    line = make_clip(tmp_path / "clip.mp4", 0, "follow for more", 2, (360, 640))
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(json.dumps(line) + "\n\n")
    monkeypatch.setenv("TIKTOK_ANALYZER_TRANSCRIBE", "false")
    assert main(["eval", str(manifest), "--json", "--check", "--frames", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    overall = report["overall"]
    assert overall["ocr"]["recall"] >= 0.95 and overall["cuts"]["f1"] == 1.0
    assert overall["wer"] is None and any("word error rate skipped" in n for n in overall["notes"])
    assert set(report["videos"][0]["seconds"]) >= {"decode", "shots", "ocr"}


def test_a_bad_manifest_line_is_named(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"video": "a.mp4"}\nnot json\n')
    with pytest.raises(SystemExit, match="m.jsonl:2: not JSON"):
        main(["eval", str(manifest)])
