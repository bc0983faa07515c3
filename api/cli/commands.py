"""The `tiktok-analyzer` command's parser and subcommands: analyze, serve, eval, make-test-model."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from analyzers.aspects import DEFAULT_ASPECTS
from analyzers.errors import AnalyzerError, InputError, InvalidOptionError
from analyzers.media import limits
from analyzers.registry import TEST_MODEL_KINDS
from api import __version__
from api.cli.analyze import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, AnalyzeRun
from api.cli.output import FORMATS
from api.settings import Settings, load_settings

#: 128 + the signal number, as a shell reports a process the signal ended
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="hub id or local directory (TIKTOK_ANALYZER_MODEL)")
    parser.add_argument(
        "--quantization",
        choices=["int8", "fp16", "bf16", "fp32"],
        help="weights precision (TIKTOK_ANALYZER_QUANTIZATION, default int8)",
    )
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N (TIKTOK_ANALYZER_DEVICE)")
    parser.add_argument("--analyzer", help="registered analyzer name (default blip2)")
    parser.add_argument("--env-file", type=Path, help="read TIKTOK_ANALYZER_* settings from it")


EXAMPLES = """\
examples:
  tiktok-analyzer analyze clip.mp4                      readable report on the terminal
  tiktok-analyzer analyze clips/ --output-dir results/  a folder, searched recursively:
                                                        results/<name>.json + keyframes
  tiktok-analyzer analyze 'clips/**/*.mov' --json       one JSON line per video
  tiktok-analyzer analyze clip.mp4 --frames 8 --aspects scene,mood --format md
  tiktok-analyzer analyze clip.mp4 --format srt > clip.srt
  tiktok-analyzer make-test-model /tmp/tiny && \\
    tiktok-analyzer analyze clip.mp4 --model /tmp/tiny --quantization fp32
                                    try it without downloading BLIP-2 (meaningless text)
"""

EXIT_CODES = """\
exit codes:
  0    every video gave a result
  1    the model could not load, or an analysis failed
  2    bad input or option (missing file, not a video, unknown aspect ...);
       the other videos are still analysed
  130  interrupted
  141  stdout closed early (broken pipe, e.g. piped into head)
"""


def _aspects_help() -> str:
    return f"aspects: {', '.join(DEFAULT_ASPECTS)} (all by default)\n"


def _add_analyze_parser(sub: Any) -> None:
    analyze = sub.add_parser(
        "analyze",
        help="analyze videos in this process (files, folders, glob patterns)",
        description="Analyze videos in this process; the model loads once for all of them.",
        epilog=EXAMPLES + "\n" + _aspects_help() + "\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    analyze.add_argument(
        "videos",
        nargs="+",
        metavar="VIDEO",
        help="video file, folder (searched recursively for video files) or quoted glob pattern",
    )
    _add_model_options(analyze)
    analyze.add_argument("--frames", type=int, help="frames to sample per video (default 16)")
    analyze.add_argument(
        "--aspects", help=f"comma-separated subset of: {','.join(DEFAULT_ASPECTS)}"
    )
    analyze.add_argument(
        "--format",
        choices=FORMATS,
        help="what stdout shows per video: text report (default), json lines, "
        "md report, srt or vtt subtitles",
    )
    analyze.add_argument(
        "--json",
        action="store_true",
        help='same as --format json: one line per video, {"file", "result"} or {"file", "error"}',
    )
    analyze.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="also write DIR/<name>.json per video, its keyframes in DIR/<name>/, "
        "and md/srt/vtt there instead of stdout",
    )
    stages = analyze.add_argument_group("stages beside the model (each also a setting)")
    stages.add_argument(
        "--sampling",
        choices=["uniform", "shots"],
        help="shots: at least one frame per detected shot (default); uniform: evenly spread",
    )
    stages.add_argument(
        "--ocr",
        action=argparse.BooleanOptionalAction,
        help="read on-screen text (default on; engine: TIKTOK_ANALYZER_OCR_ENGINE)",
    )
    stages.add_argument("--ocr-langs", help="Tesseract languages, e.g. eng+deu (default eng)")
    stages.add_argument(
        "--transcribe",
        action=argparse.BooleanOptionalAction,
        help="transcribe speech with Whisper (default on)",
    )
    stages.add_argument(
        "--asr-model", help="faster-whisper size name (small ...), hub id or local directory"
    )
    analyze.add_argument(
        "-v", "--verbose", action="store_true", help="log more, with tracebacks of failures"
    )


def _add_eval_parser(sub: Any) -> None:
    evaluate = sub.add_parser(
        "eval",
        help="score the stages on your labelled clips (WER, OCR, cuts, captions)",
        description="Score the stages against a JSONL manifest: one line per video, "
        '{"video": ..., "transcript": ..., "overlays": [...], "cuts": [...], "captions": [...]}'
        " (each truth optional; the video relative to the manifest).",
    )
    evaluate.add_argument("manifest", type=Path, help="the JSONL manifest")
    _add_model_options(evaluate)
    evaluate.add_argument("--frames", type=int, default=16, help="frames read per video")
    evaluate.add_argument(
        "--ocr-engine", choices=["rapidocr", "tesseract"], help="default: the setting (rapidocr)"
    )
    evaluate.add_argument("--asr-model", help="Whisper hub id or local directory")
    evaluate.add_argument("--json", action="store_true", help="one JSON document on stdout")
    evaluate.add_argument(
        "--check", action="store_true", help="exit 1 below the floors (WER, OCR, cut F1)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiktok-analyzer",
        description="Multi-aspect text descriptions of short videos with BLIP-2.",
        epilog=EXAMPLES
        + "\n"
        + _aspects_help()
        + "\n"
        + EXIT_CODES
        + "\nMore: tiktok-analyzer COMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_analyze_parser(sub)

    serve = sub.add_parser("serve", help="run the HTTP service and its worker pool")
    _add_model_options(serve)
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8003)")
    serve.add_argument("--workers", type=int, help="worker processes")

    _add_eval_parser(sub)

    make_model = sub.add_parser(
        "make-test-model", help="write a tiny random-weight model for tests and demos"
    )
    make_model.add_argument("directory", type=Path)
    make_model.add_argument(
        "--kind",
        default="blip2",
        choices=sorted(TEST_MODEL_KINDS),
        help="model family (default blip2)",
    )
    make_model.add_argument(
        "--large-vision",
        action="store_true",
        help="vision tower large relative to the language model (for benchmarks)",
    )
    return parser


def _settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    return load_settings(
        env_file=args.env_file,
        model=args.model,
        quantization=args.quantization,
        device=args.device,
        analyzer=args.analyzer,
        **extra,
    )


def _output_format(args: argparse.Namespace) -> str:
    if args.json and args.format not in (None, "json"):
        raise InvalidOptionError(f"--json and --format {args.format} ask for two formats; pick one")
    return "json" if args.json else args.format or "text"


def cmd_analyze(args: argparse.Namespace) -> int:
    """Analyze every video named; one-line errors; the exit code says the worst outcome."""
    fmt = _output_format(args)
    settings = _settings_from(
        args,
        sampling=args.sampling,
        ocr=args.ocr,
        ocr_langs=args.ocr_langs,
        transcribe=args.transcribe,
        asr_model=args.asr_model,
    )
    options = settings.analysis_options(args.frames, args.aspects)  # refused before any work
    limits.configure(settings.media_limits())
    return AnalyzeRun(args, settings, fmt).run(options)


def cmd_serve(args: argparse.Namespace) -> int:
    from api.server import serve

    settings = _settings_from(args, host=args.host, port=args.port, workers=args.workers)
    return serve(settings)


def cmd_make_test_model(args: argparse.Namespace) -> int:
    from analyzers.testing.tiny_model import make_test_model, make_tiny_model

    if args.kind == "blip2":
        out = make_test_model(args.directory, large_vision=args.large_vision)
    else:
        out = make_tiny_model(args.kind, args.directory)
    print(f"wrote a random-weight test {args.kind} model to {out} (its text is meaningless)")
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from api.cli.evaluate import run_eval

    settings = _settings_from(args, ocr_engine=args.ocr_engine, asr_model=args.asr_model)
    return run_eval(args, settings)


COMMANDS = {
    "analyze": cmd_analyze,
    "serve": cmd_serve,
    "eval": cmd_eval,
    "make-test-model": cmd_make_test_model,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.INFO if getattr(args, "verbose", False) else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except AnalyzerError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(err, InputError) else EXIT_FAILED
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        print(f"error: invalid setting: {problems}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`... --json | head -1`): stop quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
