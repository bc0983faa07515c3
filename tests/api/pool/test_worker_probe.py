"""The worker analyses a job with the probe intake made: its file is opened once, not twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import pytest

from analyzers.errors import AnalyzerError
from analyzers.media.probe import probe_video
from analyzers.testing.clips import make_video
from api.jobs.record import Job
from api.pool.protocol import JobBegun, JobPrepared, ToFront
from api.pool.worker import Worker
from api.settings import Settings


def test_the_worker_does_not_probe_again(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = make_video(tmp_path / "v.mp4", width=160, height=288, duration_s=2.0, audio=True)
    settings = Settings(
        model=str(tiny_model_dir),
        quantization="fp32",
        device="cpu",
        ocr=False,
        transcribe=False,
        prefetch=False,
        data_dir=tmp_path / "data",
    )
    sent: list[ToFront] = []
    worker = Worker(settings, 0, "cpu", sent.append)
    assert worker.load()
    options = settings.analysis_options(frames=4, aspects="scene")
    probe = probe_video(video)  # what intake stored with the job
    job = Job("j1", options, video, "v.mp4", video.stat().st_size, probe.duration_s, probe=probe)
    opened: list[str] = []
    real = av.open

    def spy(*args: Any, **kwargs: Any) -> Any:
        opened.append(str(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(av, "open", spy)
    prepared = worker.prepare(job)
    assert opened == [str(video)]
    assert not isinstance(prepared.video, AnalyzerError)
    assert len(prepared.video.timestamps) == 4 and prepared.video.shots is not None
    assert [type(m) for m in sent[-2:]] == [JobBegun, JobPrepared]
