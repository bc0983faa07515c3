"""The `tiktok-analyzer` command end to end: real decoders, the tiny BLIP-2, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from api.cli import main
from tests.media import (
    make_audio_only,
    make_empty_file,
    make_image_file,
    make_text_file,
    make_truncated_video,
)

CLI = [sys.executable, "-m", "api.cli"]


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


def test_analyze_json_through_the_real_command(tiny_model_dir: Path, short_video: Path) -> None:
    proc = _run_cli(
        "analyze", str(short_video), "--model", str(tiny_model_dir), "--quantization", "fp32",
        "--frames", "4", "--aspects", "scene,mood", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["video"]["orientation"] == "vertical"
    assert result["model"]["test_model"] is True
    assert len(result["frames"]) == 4
    assert all(set(f["aspects"]) == {"scene", "mood"} for f in result["frames"])
    assert set(result["aspects"]) == {"scene", "mood"}
    assert result["timings"]["realtime_factor"] > 0
    # The CLI says the text is meaningless, on stderr so --json stays parseable.
    assert "test model" in proc.stderr
    # Piped output: no progress bar characters.
    assert "frames\r" not in proc.stderr and "[#" not in proc.stderr


def test_readable_report(
    tiny_model_dir: Path, short_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["analyze", str(short_video), "--model", str(tiny_model_dir),
         "--quantization", "int8", "--frames", "3"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "summary:" in out and "aspects:" in out and "timings:" in out
    assert "random-weight test model" in out


BadFileMaker = Callable[[Path], object]

BAD_INPUTS: list[tuple[str, str, str]] = [
    # (maker name, file name, words the one-line error must contain)
    ("empty", "empty.mp4", "empty"),
    ("text", "notes.mp4", "not a video"),
    ("image", "photo.mp4", "not a video"),
    ("audio", "song.mp4", "no video stream"),
]


def _make_bad(kind: str, path: Path, good_video: Path) -> None:
    makers: dict[str, BadFileMaker] = {
        "empty": make_empty_file,
        "text": make_text_file,
        "image": make_image_file,
        "audio": make_audio_only,
    }
    makers[kind](path)


@pytest.mark.parametrize(("kind", "name", "words"), BAD_INPUTS)
def test_bad_input_gives_one_line_error(
    kind: str,
    name: str,
    words: str,
    tmp_path: Path,
    tiny_model_dir: Path,
    short_video: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / name
    _make_bad(kind, bad, short_video)
    code = main(["analyze", str(bad), "--model", str(tiny_model_dir), "--quantization", "fp32"])
    err = capsys.readouterr().err
    assert code == 2
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, err
    assert words in error_lines[0].lower()
    assert "Traceback" not in err and "Check failed" not in err


def test_truncated_file_is_an_error_or_a_partial_result(
    tmp_path: Path, tiny_model_dir: Path, short_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "cut.mp4"
    make_truncated_video(short_video, bad)
    code = main(
        ["analyze", str(bad), "--model", str(tiny_model_dir), "--quantization", "fp32", "--json"]
    )
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Check failed" not in captured.err
    if code == 0:
        assert json.loads(captured.out)["warnings"], "a partial result must say so"
    else:
        assert code == 2
        assert len([ln for ln in captured.err.splitlines() if ln.startswith("error:")]) == 1


def test_several_files_keep_going_after_a_bad_one(
    tmp_path: Path, tiny_model_dir: Path, short_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.mp4"
    code = main(
        ["analyze", str(missing), str(short_video), "--model", str(tiny_model_dir),
         "--quantization", "fp32", "--frames", "2", "--json"]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 2
    assert out[0]["error"]["message"].endswith("no such file")
    assert len(out[1]["result"]["frames"]) == 2


def test_bad_options_are_refused_before_any_work(
    tiny_model_dir: Path, short_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(short_video), "--aspects", "smell"]) == 2
    assert "unknown aspect" in capsys.readouterr().err.lower()
    assert main(["analyze", str(short_video), "--frames", "0"]) == 2
    assert "frames must be between" in capsys.readouterr().err


def test_model_load_failure_names_the_setting(
    tmp_path: Path, short_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["analyze", str(short_video), "--model", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert code == 1
    assert "TIKTOK_ANALYZER_MODEL" in err
    assert "Traceback" not in err


def test_progress_bar_on_a_terminal(tiny_model_dir: Path, short_video: Path) -> None:
    """On a terminal stderr shows a bar with frame counts; piped (above) it does not."""
    import pty

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [*CLI, "analyze", str(short_video), "--model", str(tiny_model_dir),
         "--quantization", "fp32", "--frames", "4"],
        stdout=subprocess.DEVNULL, stderr=terminal, env=env,
    )  # fmt: skip
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO once the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=300) == 0
    os.close(controller)
    text = seen.decode(errors="replace")
    assert "[1/1] short_4s.mp4" in text
    assert "4/4 frames" in text
