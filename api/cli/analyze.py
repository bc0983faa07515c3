"""``tiktok-analyzer analyze``: every input checked, the model loaded once, each video analysed.

A video that fails is reported (one line naming it) and the run goes on with the
next; the exit code says the worst thing that happened: 2 for bad input, 1 for a
model or analysis failure, 0 when every video gave a result.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from analyzers.base import ProgressCallback
from analyzers.errors import AnalyzerError, InputError
from analyzers.options import AnalysisOptions
from analyzers.schema import Source
from api.cli.inputs import expand_inputs
from api.cli.output import ResultWriter, check_format
from api.cli.progress import Display, make_display
from api.masking import masked_url
from api.settings import Settings

if TYPE_CHECKING:  # the engine imports the analyzers' pipeline: loaded when a run starts
    from analyzers.engine import Engine

log = logging.getLogger("tiktok_analyzer.cli")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _exit_code_for(err: BaseException) -> int:
    return EXIT_BAD_INPUT if isinstance(err, InputError) else EXIT_FAILED


class AnalyzeRun:
    """One ``analyze`` command: the inputs, the loaded analyzer, the writer and the display."""

    def __init__(self, args: argparse.Namespace, settings: Settings, fmt: str) -> None:
        self.args = args
        self.settings = settings
        self.fmt = fmt
        self.writer = ResultWriter(fmt, args.output_dir, sys.stdout, sys.stderr)
        self.display: Display = make_display(enabled=fmt != "json", stream=sys.stderr)
        self.exit_code = EXIT_OK

    def _fail(self, label: str, err: AnalyzerError | None, code: str, message: str) -> None:
        with self.display.paused():
            self.writer.error(label, code, message)
        self.exit_code = max(self.exit_code, _exit_code_for(err) if err else EXIT_BAD_INPUT)

    def run(self, options: AnalysisOptions) -> int:
        inputs = expand_inputs(self.args.videos)
        check_format(self.fmt, len(inputs.videos) + len(inputs.links), self.args.output_dir)
        self.writer.prepare_output_dir()
        with self.display:
            for problem in inputs.problems:  # known now: say so before a long model load
                self._fail(problem.argument, None, problem.code, problem.message)
            if inputs.videos or inputs.links:
                self._analyze_all(inputs.videos, inputs.links, options)
        return self.exit_code

    def _load(self) -> Engine:
        from analyzers.engine import Engine  # the analyzer imports transformers

        # A local directory by its last part: the progress row is narrow.
        model = self.settings.model
        with self.display.loading(Path(model).name if Path(model).is_dir() else model):
            # A stage that cannot load (no Tesseract, no Whisper) is a warning in each result.
            keyframes = self.args.output_dir is not None  # JPEGs only where they are kept
            return Engine.load(
                self.settings.analyzer,
                self.settings.analyzer_config(),
                self.settings.stages_config(keyframes=keyframes),
            )

    def _analyze_all(
        self, videos: Sequence[Path], links: Sequence[str], options: AnalysisOptions
    ) -> None:
        try:
            engine = self._load()
        except AnalyzerError as err:
            with self.display.paused():
                print(f"error: {err.message}", file=sys.stderr)
            if self.fmt == "json":  # keep one line per file, whatever happened
                for label in [*map(str, videos), *map(masked_url, links)]:
                    self.writer.error(label, err.code, err.message)
            self.exit_code = max(self.exit_code, _exit_code_for(err))
            return
        total = len(videos) + len(links)
        try:
            for index, video in enumerate(videos, start=1):
                self.display.start_file(index, total, video.name)
                try:
                    self._analyze_one(video, engine, options)
                finally:
                    self.display.end_file()
            if links:
                self._analyze_links(links, len(videos), total, engine, options)
        finally:
            engine.close()

    def _analyze_links(
        self, links: Sequence[str], done: int, total: int, engine: Engine, options: AnalysisOptions
    ) -> None:
        from api.cli.links import link_inputs  # yt-dlp: loaded only when links are given

        with link_inputs(self.settings) as fetcher:
            for index, link in enumerate(links, start=done + 1):
                label = masked_url(link)
                self.display.start_file(index, total, label)
                try:
                    fetched = fetcher.fetch(link)
                except AnalyzerError as err:
                    self._fail(label, err, err.code, err.message)
                    continue
                finally:
                    self.display.end_file()
                self.display.start_file(index, total, fetched.name.name)
                try:
                    self._analyze_one(
                        fetched.path, engine, options, named=(fetched.name, label, fetched.source)
                    )
                finally:
                    self.display.end_file()
                    fetched.path.unlink(missing_ok=True)

    def _progress(self, *, speech_next: bool) -> ProgressCallback:
        """Frames described so far, then "speech" while Whisper runs after the last frame."""

        def progress(done: int, total: int) -> None:
            self.display.frames_done(done, total, steps_after=1 if speech_next else 0)
            if done == total and speech_next:
                self.display.phase("speech")

        return progress

    def _analyze_one(
        self,
        video: Path,
        engine: Engine,
        options: AnalysisOptions,
        named: tuple[Path, str, Source] | None = None,
    ) -> None:
        """``named``, for a link: the name its outputs take, its label, and its source."""
        try:
            prepared = engine.prepare(video, options)
            result = engine.describe(
                prepared, self._progress(speech_next=prepared.audio is not None)
            )
        except AnalyzerError as err:
            self._fail(named[1] if named else str(video), err, err.code, err.message)
            return
        except Exception as err:  # a bug or a library failure: this file fails, the run goes on
            log.info("analysis of %s failed", video, exc_info=True)  # shown with -v
            first_line = (str(err).strip().splitlines() or [""])[0]  # one line, as every error
            failure = AnalyzerError(f"unexpected {type(err).__name__}: {first_line}")
            self._fail(
                named[1] if named else str(video), failure, "analysis_failed", failure.message
            )
            return
        keyframes = prepared.keyframes  # empty without --output-dir
        if named is not None:
            result.source = named[2]
        try:
            with self.display.paused():
                if named is None:
                    self.writer.result(video, result, keyframes)
                else:
                    self.writer.result(named[0], result, keyframes, label=named[1])
        except BrokenPipeError:
            raise  # stdout's reader left: main stops the run
        except OSError as err:  # the output folder: full, read-only ...
            message = f"cannot write the result: {err.strerror or err}"
            self._fail(str(video), AnalyzerError(message), "write_failed", message)
