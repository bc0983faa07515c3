"""The `tiktok-analyzer` command: analyze, serve, make-test-model."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from analyzers.errors import AnalyzerError, InputError
from analyzers.tiny_model import TEST_MODEL_KINDS
from api.report import ProgressBar, render_report
from api.settings import Settings, load_settings

log = logging.getLogger("tiktok_analyzer.cli")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiktok-analyzer",
        description="Multi-aspect text descriptions of short videos with BLIP-2.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    analyze = sub.add_parser("analyze", help="analyze video files in this process")
    analyze.add_argument("videos", nargs="+", type=Path, metavar="VIDEO")
    _add_model_options(analyze)
    analyze.add_argument("--frames", type=int, help="frames to sample (default 16)")
    analyze.add_argument("--aspects", help="comma-separated subset, e.g. scene,mood")
    analyze.add_argument("--json", action="store_true", help="print the JSON result")

    serve = sub.add_parser("serve", help="run the HTTP service and its worker pool")
    _add_model_options(serve)
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8003)")
    serve.add_argument("--workers", type=int, help="worker processes")

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


def cmd_analyze(args: argparse.Namespace) -> int:
    """Analyze each file; one-line errors; non-zero exit if any file failed."""
    from analyzers.pipeline import analyze_video
    from analyzers.registry import create_analyzer

    settings = _settings_from(args)
    options = settings.analysis_options(args.frames, args.aspects)
    show_progress = not args.json and sys.stderr.isatty()
    analyzer = create_analyzer(settings.analyzer, settings.analyzer_config())
    model_info = analyzer.load()  # logs a warning when it is the meaningless test model

    outputs: list[dict[str, Any]] = []
    exit_code = EXIT_OK
    for index, path in enumerate(args.videos, start=1):
        label = f"[{index}/{len(args.videos)}] {path.name}"
        bar = ProgressBar(label) if show_progress else None
        try:
            if not path.is_file():
                raise InputError(f"{path}: no such file")
            result = analyze_video(path, analyzer, model_info, options, bar.update if bar else None)
        except AnalyzerError as err:
            if bar:
                bar.close()
            print(f"error: {path}: {err.message}", file=sys.stderr)
            exit_code = max(exit_code, EXIT_BAD_INPUT if isinstance(err, InputError) else 1)
            outputs.append({"file": str(path), "error": {"code": err.code, "message": err.message}})
            continue
        if bar:
            bar.close()
        outputs.append({"file": str(path), "result": result.model_dump(mode="json")})
        if not args.json:
            print(render_report(path, result))

    if args.json:
        # One video prints its result object; several print a list naming each file.
        single = len(outputs) == 1 and "result" in outputs[0]
        print(json.dumps(outputs[0]["result"] if single else outputs, indent=2))
    return exit_code


def cmd_serve(args: argparse.Namespace) -> int:
    from api.server import serve

    settings = _settings_from(args, host=args.host, port=args.port, workers=args.workers)
    return serve(settings)


def cmd_make_test_model(args: argparse.Namespace) -> int:
    from analyzers.tiny_model import make_test_model, make_tiny_model

    if args.kind == "blip2":
        out = make_test_model(args.directory, large_vision=args.large_vision)
    else:
        out = make_tiny_model(args.kind, args.directory)
    print(f"wrote a random-weight test {args.kind} model to {out} (its text is meaningless)")
    return EXIT_OK


COMMANDS = {"analyze": cmd_analyze, "serve": cmd_serve, "make-test-model": cmd_make_test_model}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
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
        return 130


if __name__ == "__main__":
    sys.exit(main())
