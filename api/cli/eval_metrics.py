"""The scores ``tiktok-analyzer eval`` gives: WER, OCR word recall/precision, cut F1, captions."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    """Lower-case words without punctuation: what the scores compare."""
    return _WORD.findall(text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` (jiwer, on normalised words)."""
    import jiwer

    ref, hyp = " ".join(words(reference)), " ".join(words(hypothesis))
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp or ""))


@dataclass(frozen=True)
class Counts:
    """Matches, truths and findings: recall, precision and F1 add up over videos."""

    matched: int
    truth: int
    found: int

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.matched + other.matched, self.truth + other.truth, self.found + other.found
        )

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.found if self.found else 1.0

    @property
    def f1(self) -> float:
        total = self.recall + self.precision
        return 2 * self.recall * self.precision / total if total else 0.0


def word_counts(truth: Sequence[str], found: Sequence[str]) -> Counts:
    """OCR words: each drawn word found once counts (a multiset, order ignored)."""
    want = Counter(w for text in truth for w in words(text))
    got = Counter(w for text in found for w in words(text))
    return Counts(sum((want & got).values()), sum(want.values()), sum(got.values()))


def cut_counts(truth: Sequence[float], found: Sequence[float], fps: float) -> Counts:
    """Cuts found within two frames of a true cut; each true cut matches once."""
    tolerance = 2.0 / fps + 1e-6
    left = sorted(truth)
    matched = 0
    for cut in sorted(found):
        near = [t for t in left if abs(t - cut) <= tolerance]
        if near:
            left.remove(min(near, key=lambda t: abs(t - cut)))
            matched += 1
    return Counts(matched, len(truth), len(found))


def caption_scores(references: Sequence[str], hypothesis: str) -> dict[str, float]:
    """BLEU and chrF of one generated caption against reference captions (sacrebleu)."""
    import sacrebleu

    refs = list(references)
    return {
        "bleu": round(float(sacrebleu.sentence_bleu(hypothesis, refs).score), 2),
        "chrf": round(float(sacrebleu.sentence_chrf(hypothesis, refs).score), 2),
    }
