"""Model files a service user cannot read are reported as a permission problem, by name."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from analyzers.errors import ModelLoadError
from analyzers.model_loading import require_readable

NOBODY = 65534


def _check_as_nobody(model: Path) -> str:
    """Run require_readable in a forked child that dropped root; returns its message."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become nobody, check, report, leave
        os.close(read_end)
        message = "readable"
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            require_readable(model, hint="set TIKTOK_ANALYZER_MODEL")
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


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to check as another user")
def test_an_unreadable_weights_file_says_permission_denied() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        model = Path(tmp) / "model"
        model.mkdir()
        (model / "config.json").write_text("{}")
        weights = model / "model.safetensors"
        weights.write_bytes(b"weights")
        weights.chmod(0o600)  # owned by root, as a download run as root leaves it
        message = _check_as_nobody(model)
        assert message.startswith("permission denied: user nobody cannot read"), message
        assert str(weights) in message
        weights.chmod(0o644)
        assert _check_as_nobody(model) == "readable"
