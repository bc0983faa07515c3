"""Synthetic finished results for the library's tests and bench: speech, text, frames, source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.jobs.record import Job
from api.jobs.store import JobStore
from api.settings import Settings


def result_for(
    job_id: str,
    *,
    said: str = "hello and welcome",
    shown: str = "FOLLOW FOR MORE",
    caption: str = "a person in a kitchen",
    summary: str = "A cooking video.",
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A stored result (the JSON a job keeps) with one spoken segment, one overlay, two frames."""
    words = said.split()
    return {
        "summary": summary,
        "frames": [
            {
                "timestamp_s": 0.5,
                "caption": caption,
                "aspects": {},
                "image": f"/jobs/{job_id}/frames/0",
            },
            {
                "timestamp_s": 4.5,
                "caption": "a plate",
                "aspects": {},
                "image": f"/jobs/{job_id}/frames/1",
            },
        ],
        "aspects": {"mood": [{"text": "cheerful", "frames": 2, "time_ranges": [[0.0, 5.0]]}]},
        "text_overlays": [{"text": shown, "start_s": 3.0, "end_s": 5.0, "confidence": 0.9}],
        "transcript": {
            "language": "en",
            "text": said,
            "segments": [
                {
                    "start_s": 4.0,
                    "end_s": 4.0 + 0.4 * len(words),
                    "text": said,
                    "words": [
                        {
                            "text": w,
                            "start_s": 4.0 + 0.4 * i,
                            "end_s": 4.3 + 0.4 * i,
                            "probability": 0.9,
                        }
                        for i, w in enumerate(words)
                    ],
                }
            ],
        },
        "source": source,
    }


def add_done_job(
    store: JobStore,
    job_id: str,
    result: dict[str, Any],
    *,
    filename: str = "clip.mp4",
    now: float = 1000.0,
) -> None:
    """Insert a job and finish it with ``result`` through the store, as the pool does."""
    options = Settings().analysis_options()
    store.insert(Job(job_id, options, Path("/up") / job_id, filename, 10, 6.0, created_at=now))
    assert store.finish_done(job_id, result, model_started_at=None, model_finished_at=None, now=now)
