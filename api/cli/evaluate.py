"""``tiktok-analyzer eval MANIFEST``: the stages scored against truths a JSONL manifest gives.

Each line: ``{"video": ..., "transcript": ..., "overlays": [...], "cuts": [...],
"captions": [...]}``, every truth optional, the video relative to the manifest.
The stages run as in the product (Stages loaded from the settings); captions, only
when a line has reference captions, come from the analyzer itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from api.cli.eval_metrics import (
    Counts,
    caption_scores,
    cut_counts,
    word_counts,
    word_error_rate,
)
from api.settings import Settings

#: the floors ``--check`` enforces (make eval), none looser than the issue asks
FLOORS = {"wer": 0.15, "ocr_recall": 0.95, "ocr_precision": 0.95, "cut_f1": 0.95}


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """The manifest's lines, each video's path made absolute."""
    lines = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(line, dict) or "video" not in line:
            raise SystemExit(f'{path}:{number}: a line needs {{"video": ...}}')
        line["video"] = str((path.parent / line["video"]).resolve())
        lines.append(line)
    return lines


class Evaluation:
    """Loaded stages, each video scored, and the totals."""

    def __init__(self, settings: Settings, frames: int) -> None:
        from analyzers.stages import Stages

        self.settings = settings
        self.frames = frames
        self.stages = Stages.load(settings.stages_config(keyframes=False))
        self.notes = list(self.stages.load_warnings)
        if self.stages.transcriber is None:
            self.notes.append("speech stage off or unavailable: word error rate skipped")
        self.ocr = self.cuts = Counts(0, 0, 0)
        self.wers: list[float] = []
        self.captions: list[dict[str, float]] = []
        self.seconds: dict[str, float] = {}
        self._engine: Any = None

    def video(self, line: dict[str, Any]) -> dict[str, Any]:
        """The scores of one manifest line."""
        from analyzers.media.sampling import sample_frames

        path = line["video"]
        scores: dict[str, Any] = {"video": path, "seconds": {}}
        began = time.perf_counter()
        sampled = sample_frames(path, num_frames=self.frames, max_frames=max(64, self.frames))
        self._tick(scores, "decode", began)
        info = sampled.video
        if line.get("cuts") is not None:
            began = time.perf_counter()
            shots, _, _ = self.stages.find_shots(path, info.duration_s, self.frames, 120.0)
            self._tick(scores, "shots", began)
            found = [s.start_s for s in shots or []][1:]
            counts = cut_counts(line["cuts"], found, info.fps or 30.0)
            self.cuts += counts
            scores["cuts"] = _scored(counts)
        if line.get("overlays") is not None and self.stages.ocr is not None:
            began = time.perf_counter()
            overlays, warnings = self.stages.read_text(sampled.images, sampled.timestamps)
            self._tick(scores, "ocr", began)
            counts = word_counts(line["overlays"], [o.text for o in overlays or []])
            self.ocr += counts
            scores["ocr"] = _scored(counts) | ({"warnings": warnings} if warnings else {})
        if line.get("transcript") is not None and self.stages.transcriber is not None:
            self._speech(line, scores, info.has_audio)
        if line.get("captions"):
            self._caption(line, scores)
        return scores

    def _speech(self, line: dict[str, Any], scores: dict[str, Any], has_audio: bool) -> None:
        began = time.perf_counter()
        audio = self.stages.decode_audio(line["video"], has_audio, self.settings.max_duration_s)
        transcript, _ = self.stages.transcribe(audio)
        self._tick(scores, "speech", began)
        heard = transcript.text if transcript is not None else ""
        scores["transcript"] = heard
        if heard:  # the floor applies only where a transcript came out
            rate = word_error_rate(line["transcript"], heard)
            self.wers.append(rate)
            scores["wer"] = round(rate, 4)

    def _caption(self, line: dict[str, Any], scores: dict[str, Any]) -> None:
        from analyzers.engine import Engine

        began = time.perf_counter()
        if self._engine is None:
            s = self.settings
            self._engine = Engine.load(
                s.analyzer, s.analyzer_config(), s.stages_config(keyframes=False)
            )
        options = self.settings.analysis_options(self.frames)
        result = self._engine.describe(self._engine.prepare(line["video"], options))
        self._tick(scores, "captions", began)
        scores["caption"] = caption_scores(line["captions"], result.summary)
        self.captions.append(scores["caption"])

    def _tick(self, scores: dict[str, Any], stage: str, began: float) -> None:
        spent = time.perf_counter() - began
        scores["seconds"][stage] = round(spent, 3)
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + spent, 3)

    def overall(self) -> dict[str, Any]:
        """The totals over every video (None where no line gave that truth)."""
        total: dict[str, Any] = {"seconds": self.seconds, "notes": self.notes}
        total["wer"] = round(sum(self.wers) / len(self.wers), 4) if self.wers else None
        total["ocr"] = _scored(self.ocr) if self.ocr.truth or self.ocr.found else None
        total["cuts"] = _scored(self.cuts) if self.cuts.truth or self.cuts.found else None
        if self.captions:
            total["caption"] = {
                k: round(sum(c[k] for c in self.captions) / len(self.captions), 2)
                for k in self.captions[0]
            }
        return total


def _scored(counts: Counts) -> dict[str, float]:
    return {
        "recall": round(counts.recall, 4),
        "precision": round(counts.precision, 4),
        "f1": round(counts.f1, 4),
    }


def below_floors(total: dict[str, Any]) -> list[str]:
    """The floors the totals miss (those without a measure are not checked)."""
    missed = []
    if total["wer"] is not None and total["wer"] > FLOORS["wer"]:
        missed.append(f"word error rate {total['wer']} > {FLOORS['wer']}")
    checks = (("ocr", "recall"), ("ocr", "precision"), ("cuts", "f1"))
    for part, measure in checks:
        floor = FLOORS[f"{'cut' if part == 'cuts' else part}_{measure}"]
        if total[part] is not None and total[part][measure] < floor:
            missed.append(f"{part} {measure} {total[part][measure]} < {floor}")
    return missed


def _line_text(scores: dict[str, Any]) -> str:
    parts = [Path(scores.get("video", "overall")).name]
    if scores.get("wer") is not None:
        parts.append(f"WER {scores['wer']:.3f}")
    for part in ("ocr", "cuts"):
        if scores.get(part):
            got = scores[part]
            parts.append(f"{part} R {got['recall']:.3f} P {got['precision']:.3f}")
    if scores.get("caption"):
        parts.append(" ".join(f"{k} {v}" for k, v in scores["caption"].items()))
    parts.append(" ".join(f"{k} {v:.2f}s" for k, v in scores["seconds"].items()))
    return "  ".join(parts)


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Score every line; print per video and overall; 1 when --check finds a floor missed."""
    from api.cli.progress import make_display

    lines = read_manifest(Path(args.manifest))
    evaluation = Evaluation(settings, args.frames)
    per_video = []
    display = make_display(enabled=True, stream=sys.stderr)
    with display:
        for index, line in enumerate(lines):
            display.start_file(index, len(lines), Path(line["video"]).name)
            per_video.append(evaluation.video(line))
            display.end_file()
            if not args.json:
                with display.paused():
                    print(_line_text(per_video[-1]), flush=True)
    total = evaluation.overall()
    if args.json:
        print(json.dumps({"videos": per_video, "overall": total}, indent=2))
    else:
        print(_line_text({"video": "overall", **total}))
        for note in total["notes"]:
            print(f"note: {note}")
    missed = below_floors(total) if args.check else []
    for miss in missed:
        print(f"below the floor: {miss}", file=sys.stderr)
    return 1 if missed else 0
