"""The `tiktok-analyzer` command as a user runs it: the installed script, real decoders,
the tiny BLIP-2, generated videos, real exit codes, a real pseudo-terminal."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import pytest

from analyzers.aspects import DEFAULT_ASPECTS
from analyzers.output.report import render_report
from analyzers.schema import AnalysisResult
from analyzers.testing.clips import (
    make_audio_only,
    make_empty_file,
    make_image_file,
    make_text_file,
    make_truncated_video,
    make_video,
)
from analyzers.testing.hostile_clips import make_giant_apng, make_many_streams
from api.cli import main
from api.cli.output import ResultWriter

#: the console script pip installed into the venv, as a user runs it
SCRIPT = Path(sys.executable).with_name("tiktok-analyzer")
CLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "api.cli"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: what the rich display draws; none of it may reach a pipe
PROGRESS_MARKS = ("━", "elapsed", "eta ", "loading model")


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1"}


def _run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=300, env=_env(), check=False,
        cwd=cwd,
    )  # fmt: skip


def _model_args(model: Path, frames: int = 2, whisper: Path | None = None) -> list[str]:
    # No Whisper unless a test gives one: a hub cache holding whisper-small would be loaded.
    speech = ["--asr-model", str(whisper)] if whisper else ["--no-transcribe"]
    return ["--model", str(model), "--quantization", "fp32", "--frames", str(frames), *speech]


def _json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, short_video: Path) -> Path:
    """A folder as users have them: a video, another in a subfolder with the same name,
    and things that are not videos (hidden, macOS metadata, notes)."""
    root = tmp_path_factory.mktemp("clips")
    (root / "clip.mp4").write_bytes(short_video.read_bytes())
    (root / "day2").mkdir()
    make_video(root / "day2" / "clip.mov", width=96, height=160, duration_s=2, fps=10)
    (root / "._clip.mp4").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    (root / ".cache").mkdir()
    (root / ".cache" / "old.mp4").write_bytes(b"not looked at")
    (root / "notes.txt").write_text("shot list")
    return root


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory, short_video: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    files = {
        "empty": root / "empty.mp4",
        "text": root / "notes.mp4",
        "image": root / "photo.mp4",
        "audio": root / "song.mp4",
        "truncated": root / "cut.mp4",
    }
    make_empty_file(files["empty"])
    make_text_file(files["text"])
    make_image_file(files["image"])
    make_audio_only(files["audio"])
    make_truncated_video(short_video, files["truncated"])
    return files


def test_help_shows_examples_aspects_and_exit_codes() -> None:
    for args in ([], ["analyze"]):
        proc = _run_cli(*args, "--help")
        assert proc.returncode == 0, proc.stderr
        assert "examples:" in proc.stdout and "tiktok-analyzer analyze clip.mp4" in proc.stdout
        assert all(name in proc.stdout for name in DEFAULT_ASPECTS)
        assert "exit codes:" in proc.stdout
        assert all(f"\n  {code} " in proc.stdout for code in (0, 1, 2, 130, 141))


def test_help_does_not_import_the_model_stack() -> None:
    """--help stays quick: the CLI module imports neither torch, transformers nor rich."""
    code = (
        "import sys, api.cli; print(sorted({'torch', 'transformers', 'rich'} & set(sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env()
    )
    assert proc.stdout.strip() == "[]"


def test_version() -> None:
    from importlib.metadata import version

    proc = _run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"tiktok-analyzer {version('tiktok-analyzer')}"


@pytest.fixture(scope="module")
def one_video_run(tiny_model_dir: Path, short_video: Path) -> subprocess.CompletedProcess[str]:
    return _run_cli(
        "analyze", str(short_video), *_model_args(tiny_model_dir, frames=3),
        "--aspects", "scene,mood", "--json",
    )  # fmt: skip


@pytest.fixture(scope="module")
def real_result(one_video_run: subprocess.CompletedProcess[str]) -> AnalysisResult:
    """A result the real CLI produced, for the renderers' tests."""
    return AnalysisResult.model_validate(_json_lines(one_video_run.stdout)[0]["result"])


def test_one_video_gives_one_json_line(
    one_video_run: subprocess.CompletedProcess[str], short_video: Path
) -> None:
    proc = one_video_run
    assert proc.returncode == 0, proc.stderr
    (line,) = _json_lines(proc.stdout)
    assert set(line) == {"file", "result"} and line["file"] == str(short_video)
    result = line["result"]
    assert result["video"]["orientation"] == "vertical"
    assert len(result["frames"]) == 3
    assert all(set(f["aspects"]) == {"scene", "mood"} for f in result["frames"])
    assert set(result["aspects"]) == {"scene", "mood"}
    assert result["model"]["test_model"] is True
    # A user of the test model reads the result, not the log: the warning is in it.
    assert any("random-weight test model" in w for w in result["warnings"])
    assert not any(mark in proc.stderr for mark in PROGRESS_MARKS), proc.stderr


def test_folders_globs_and_bad_files_in_one_run(
    tmp_path: Path, tiny_model_dir: Path, clips: Path, bad_files: dict[str, Path]
) -> None:
    """Every argument ends up as lines naming its file; bad ones do not stop the others."""
    out = tmp_path / "out"
    missing = tmp_path / "missing.mp4"
    proc = _run_cli(
        "analyze", str(clips), str(clips / "**" / "*.mp4"), str(missing),
        str(tmp_path / "nothing-*.mp4"), *(str(p) for p in bad_files.values()),
        *_model_args(tiny_model_dir), "--json", "--output-dir", str(out),
    )  # fmt: skip
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2, proc.stderr
    lines = _json_lines(proc.stdout)
    by_file = {line["file"]: line for line in lines}
    assert len(by_file) == len(lines), "each file once, though the folder and the glob overlap"

    # The folder gave its two videos, recursively, and nothing hidden or not a video.
    videos = [clips / "clip.mp4", clips / "day2" / "clip.mov"]
    assert {f for f, line in by_file.items() if "result" in line} >= {str(v) for v in videos}
    assert not any(".cache" in f or "._clip" in f or "notes.txt" in f for f in by_file)
    # Same-named videos do not overwrite each other's files.
    for name, video in (("clip", videos[0]), ("clip-2", videos[1])):
        line = by_file[str(video)]
        assert line["output"] == str(out / f"{name}.json")
        assert json.loads((out / f"{name}.json").read_text()) == line["result"]

    expected_errors = {
        str(missing): "no_such_file",
        str(tmp_path / "nothing-*.mp4"): "no_match",
        str(bad_files["empty"]): "empty_file",
        str(bad_files["text"]): "not_a_video",
        str(bad_files["image"]): "not_a_video",
        str(bad_files["audio"]): "no_video_stream",
    }
    for name, code in expected_errors.items():
        assert by_file[name]["error"]["code"] == code, by_file[name]
    truncated = by_file[str(bad_files["truncated"])]
    assert "error" in truncated or truncated["result"]["warnings"]

    # stderr: one line per failed file, naming it once.
    errors = _error_lines(proc.stderr)
    failed = [f for f, line in by_file.items() if "error" in line]
    assert len(errors) == len(failed)
    for name in failed:
        (line,) = [e for e in errors if f" {name}: " in e]
        assert line.count(Path(name).name) == 1, line
    assert not any(mark in proc.stderr for mark in PROGRESS_MARKS)


def test_every_stage_to_the_output_folder(
    tmp_path: Path, tiny_model_dir: Path, tiny_whisper_dir: Path, short_video: Path
) -> None:
    """Shots, OCR, speech and keyframes: the JSON, the Markdown and the JPEGs side by side."""
    out = tmp_path / "results"
    proc = _run_cli(
        "analyze", str(short_video), *_model_args(tiny_model_dir, 3, tiny_whisper_dir),
        "--format", "md", "-o", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "", "with --output-dir the document goes to its file"
    assert (
        f"wrote {out / 'short_4s.json'}, {out / 'short_4s.md'} and 3 keyframes in "
        f"{out / 'short_4s'}/" in proc.stderr
    )
    result = json.loads((out / "short_4s.json").read_text())
    images = [frame["image"] for frame in result["frames"]]
    assert images == [f"short_4s/frame_{i:03d}.jpg" for i in range(3)]
    for image in images:
        assert (out / image).read_bytes()[:3] == b"\xff\xd8\xff", "a JPEG"
    assert result["shots"] and result["text_overlays"] is not None
    assert result["transcript"] is None  # Whisper tiny.en ran, and a tone is not speech
    warnings = " ".join(result["warnings"])
    assert "random-weight test model: its captions" in warnings  # BLIP-2's own warning
    assert "speech transcription" not in warnings  # the speech model loaded
    markdown = (out / "short_4s.md").read_text()
    assert "random-weight test model" in markdown
    assert all(image in markdown for image in images)
    assert "frames sampled from" in markdown  # the summary


def test_model_load_failure_keeps_one_line_per_file(tmp_path: Path, short_video: Path) -> None:
    proc = _run_cli(
        "analyze", str(short_video), str(short_video.with_name("absent.mp4")),
        "--model", str(tmp_path / "nowhere"), "--json",
    )  # fmt: skip
    assert proc.returncode == 2, "a missing input is bad input, the worst of the two"
    lines = _json_lines(proc.stdout)
    assert [line["error"]["code"] for line in lines] == ["no_such_file", "model_load_failed"]
    assert "TIKTOK_ANALYZER_MODEL" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_options_are_refused_before_any_work(
    short_video: Path, clips: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(short_video), "--aspects", "smell"]) == 2
    assert "unknown aspect" in capsys.readouterr().err.lower()
    assert main(["analyze", str(short_video), "--frames", "0"]) == 2
    assert "frames must be between" in capsys.readouterr().err
    assert main(["analyze", str(short_video), "--json", "--format", "md"]) == 2
    assert "pick one" in capsys.readouterr().err
    assert main(["analyze", str(clips), "--format", "srt"]) == 2  # two videos, one stdout
    assert "--format srt" in capsys.readouterr().err


def _on_a_terminal(
    args: list[str], stdout: IO[str] | int, interrupt_when: bytes | None = None
) -> tuple[int, str]:
    """Run the CLI with stderr on a 140-column pseudo-terminal; (exit code, what it drew).

    ``interrupt_when``: send Ctrl-C (SIGINT) once the terminal has shown these bytes."""
    import fcntl
    import pty
    import signal
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    proc = subprocess.Popen(
        [*CLI, *args], stdout=stdout, stderr=terminal, env={**_env(), "TERM": "xterm"}
    )
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
        if interrupt_when is not None and interrupt_when in seen:
            proc.send_signal(signal.SIGINT)
            interrupt_when = None
    code = proc.wait(timeout=300)
    os.close(controller)
    return code, seen.decode(errors="replace")


def test_progress_on_a_terminal(
    tmp_path: Path, tiny_model_dir: Path, tiny_whisper_dir: Path, clips: Path
) -> None:
    """On a terminal: a spinner while the model loads, then per-file and overall progress
    with elapsed time and ETA; the report itself still goes to stdout, untouched."""
    report = tmp_path / "report.txt"
    with report.open("w") as stdout:
        args = ["analyze", str(clips), *_model_args(tiny_model_dir, 4, tiny_whisper_dir)]
        code, drawn = _on_a_terminal(args, stdout)
    assert code == 0
    screen = ANSI.sub("", drawn)
    assert f"loading model {tiny_model_dir.name}" in screen
    assert "[1/2] clip.mp4" in screen and "[2/2] clip.mov" in screen
    assert "4/4 frames" in screen and "videos" in screen
    assert re.search(r"elapsed \d+:\d\d:\d\d", screen)
    assert re.search(r"eta \d+:\d\d:\d\d", screen)
    assert "speech" in screen  # Whisper's turn, after clip.mp4's frames
    assert "random-weight test model" in screen  # the load warning, above the bars
    # Library warnings go through the display too, not straight onto the bars.
    assert "[transformers]" not in screen
    text = report.read_text()
    assert text.count("\n== ") + text.startswith("== ") == 2
    assert "\x1b" not in text and "━" not in text


def test_interrupted_on_a_terminal(tiny_model_dir: Path, clips: Path) -> None:
    """Ctrl-C mid-run: exit 130, one line, no traceback, and the cursor is given back."""
    args = ["analyze", str(clips), *_model_args(tiny_model_dir, frames=4)]
    code, drawn = _on_a_terminal(args, subprocess.DEVNULL, interrupt_when=b"frames")
    assert code == 130
    screen = ANSI.sub("", drawn)
    assert "interrupted" in screen and "Traceback" not in screen
    assert drawn.rfind("\x1b[?25h") > drawn.rfind("\x1b[?25l") >= 0  # cursor hidden, then shown


def test_report_puts_warnings_first(real_result: AnalysisResult) -> None:
    result = real_result.model_copy(deep=True)
    result.warnings.append("only 3 of 4 frames could be decoded")
    text = render_report("clip.mp4", result)
    lines = text.splitlines()
    assert lines[0] == "== clip.mp4"
    assert lines[1].startswith("WARNING: random-weight test model")
    assert lines[2] == "WARNING: only 3 of 4 frames could be decoded"
    assert "summary:" in text and "aspects:" in text and "timings:" in text


def _jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (36, 64), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def test_keyframes_written_beside_the_result(tmp_path: Path, real_result: AnalysisResult) -> None:
    """Each keyframe becomes DIR/<name>/frame_NNN.jpg and frames[].image names it."""
    out, err = io.StringIO(), io.StringIO()
    writer = ResultWriter("json", tmp_path, out, err)
    result = real_result.model_copy(deep=True)
    keyframes = [_jpeg(), None, _jpeg()]  # the middle one could not be encoded
    writer.result(Path("clips/clip.mp4"), result, keyframes)
    on_disk = json.loads((tmp_path / "clip.json").read_text())
    images = [frame["image"] for frame in on_disk["frames"]]
    assert images[0] == "clip/frame_000.jpg" and images[2] == "clip/frame_002.jpg"
    assert images[1] != "clip/frame_001.jpg" and not (tmp_path / "clip/frame_001.jpg").exists()
    assert (tmp_path / images[0]).read_bytes() == keyframes[0]
    assert _json_lines(out.getvalue())[0]["result"] == on_disk


def test_keyframes_that_cannot_be_written_are_a_warning(
    tmp_path: Path, real_result: AnalysisResult
) -> None:
    (tmp_path / "clip").write_text("a file where the keyframe folder would go")
    writer = ResultWriter("text", tmp_path, io.StringIO(), io.StringIO())
    writer.result(Path("clip.mp4"), real_result.model_copy(deep=True), [_jpeg()])
    on_disk = json.loads((tmp_path / "clip.json").read_text())
    assert any(w.startswith("keyframes were not written") for w in on_disk["warnings"])


@pytest.mark.parametrize(("fmt", "start"), [("srt", "1\n00:00:"), ("vtt", "WEBVTT\n")])
def test_subtitles_on_stdout(fmt: str, start: str, real_result: AnalysisResult) -> None:
    out = io.StringIO()
    ResultWriter(fmt, None, out, io.StringIO()).result(Path("clip.mp4"), real_result)
    assert out.getvalue().startswith(start)
    assert " --> " in out.getvalue()


def test_a_result_that_cannot_be_written_fails_that_file(
    tmp_path: Path, tiny_model_dir: Path, short_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "short_4s.json").mkdir()  # where the result file must go
    code = main(["analyze", str(short_video), *_model_args(tiny_model_dir), "-o", str(tmp_path)])
    err = capsys.readouterr().err
    (line,) = _error_lines(err)
    assert code == 1, err
    assert line.startswith(f"error: {short_video}: cannot write the result: ")


def test_hostile_files_are_refused_by_the_cli(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    streams = make_many_streams(tmp_path / "streams.mp4", 100)
    giant = make_giant_apng(tmp_path / "giant.png")
    code = main(["analyze", str(streams), str(giant), *_model_args(tiny_model_dir), "--json"])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    by_file = {line["file"]: line for line in _json_lines(captured.out)}
    assert by_file[str(streams)]["error"]["code"] == "too_many_streams"
    assert by_file[str(giant)]["error"]["code"] == "frame_too_large"
