"""Model files a service user cannot read are reported as a permission problem, by name."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from analyzers.base import AnalyzerConfig
from analyzers.errors import ModelLoadError
from analyzers.models.loading import require_readable
from analyzers.models.video_llm.loading import load_video_llm

NOBODY = 65534


def _check_as_nobody(model: Path, check: Callable[[Path], None] | None = None) -> str:
    """Run check (require_readable) in a forked child that dropped root; returns its message."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become nobody, check, report, leave
        os.close(read_end)
        message = "readable"
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            if check is None:
                require_readable(model, hint="set TIKTOK_ANALYZER_MODEL")
            else:
                check(model)
        except ModelLoadError as exc:
            message = exc.message
        except BaseException as exc:  # pragma: no cover - reported to the parent
            message = f"unexpected {exc!r}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(pid, 0)
    return text


@pytest.fixture
def root_only_weights() -> Iterator[tuple[Path, Path]]:
    """(model directory, its weights file), the weights readable by root only."""
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        model = Path(tmp) / "model"
        model.mkdir()
        (model / "config.json").write_text("{}")
        weights = model / "model.safetensors"
        weights.write_bytes(b"weights")
        weights.chmod(0o600)  # owned by root, as a download run as root leaves it
        yield model, weights


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to check as another user")
def test_an_unreadable_weights_file_says_permission_denied(
    root_only_weights: tuple[Path, Path],
) -> None:
    model, weights = root_only_weights
    message = _check_as_nobody(model)
    assert message.startswith("permission denied: user nobody cannot read"), message
    assert str(weights) in message
    weights.chmod(0o644)
    assert _check_as_nobody(model) == "readable"


def _load_video_llm(model: Path) -> None:
    load_video_llm(AnalyzerConfig(model=str(model), quantization="fp32", device="cpu"))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to check as another user")
def test_an_unreadable_video_llm_weights_file_says_permission_denied(
    root_only_weights: tuple[Path, Path],
) -> None:
    model, weights = root_only_weights
    message = _check_as_nobody(model, _load_video_llm)
    assert message.startswith("permission denied: user nobody cannot read"), message
    assert str(weights) in message and "TIKTOK_ANALYZER_MODEL" in message
