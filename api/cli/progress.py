"""What the CLI shows on a terminal while it works, drawn with rich.

A spinner with the elapsed time while the model loads, then one row per video
being analysed (decoding, then frames described, elapsed time and ETA) and, for
several videos, a row for the whole run. Off a terminal (a pipe, a file, a CI
log) or with ``--json`` nothing is drawn at all: :class:`NoDisplay` does nothing.

rich is imported only when a terminal is there to draw on, so ``--help`` and
piped runs do not pay for it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


class NoDisplay:
    """The display off a terminal: every call does nothing."""

    def __enter__(self) -> NoDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @contextmanager
    def loading(self, what: str) -> Iterator[None]:
        yield

    def start_file(self, index: int, count: int, name: str) -> None:
        return None

    def frames_done(self, done: int, total: int, steps_after: int = 0) -> None:
        return None

    def end_file(self) -> None:
        return None

    def phase(self, text: str) -> None:
        return None

    @contextmanager
    def paused(self) -> Iterator[None]:
        yield


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _ConsoleLogHandler(logging.Handler):
    """Log lines printed above the bars instead of through them."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        style = "yellow" if record.levelno == logging.WARNING else None
        style = "red" if record.levelno >= logging.ERROR else style
        self.console.print(self.format(record), style=style, markup=False, highlight=False)


class RichDisplay:
    """The terminal display; use as a context manager around the whole run."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            Task,
            TextColumn,
        )
        from rich.table import Column
        from rich.text import Text

        class Times(ProgressColumn):
            """Elapsed time, and an ETA from the mean rate so far (steadier than a window)."""

            def render(self, task: Task) -> Text:
                elapsed = task.elapsed or 0.0
                text = f"elapsed {_clock(elapsed)}"
                if task.total is not None and task.completed > 0:
                    left = elapsed * (task.total - task.completed) / task.completed
                    text += f" eta {_clock(left)}"
                return Text(text, style="progress.elapsed")

        self.console: Console = Console(file=stream)
        # Text columns never wrap (a wrapped row breaks the redraw); the bar takes what is left.
        self.progress: Progress = Progress(
            SpinnerColumn(),
            TextColumn(
                "{task.description}",
                table_column=Column(min_width=16, max_width=40, no_wrap=True, overflow="ellipsis"),
            ),
            BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=6, max_width=30)),
            TextColumn("{task.fields[count]}", table_column=Column(min_width=12, no_wrap=True)),
            Times(table_column=Column(no_wrap=True)),
            console=self.console,
            transient=True,
            # stdout may be a file while stderr is the terminal: never reroute it.
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._file_task: TaskID | None = None
        self._run_task: TaskID | None = None
        self._files_done = 0
        self._count = 0
        self._saved_handlers: dict[str, list[logging.Handler]] = {}
        self._log_handler = _ConsoleLogHandler(self.console)

    def __enter__(self) -> RichDisplay:
        self._route_logs()
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
        for name, handlers in self._saved_handlers.items():
            logging.getLogger(name or None).handlers = handlers

    def _route_logs(self) -> None:
        """Send log lines through the console, above the bars. transformers adds its own
        stderr handler when it is first imported (during the load), so this runs again then."""
        for name in ("", "transformers"):
            logger = logging.getLogger(name or None)
            if logger.handlers != [self._log_handler]:
                self._saved_handlers.setdefault(name, logger.handlers[:])
                logger.handlers = [self._log_handler]

    @contextmanager
    def loading(self, what: str) -> Iterator[None]:
        task = self.progress.add_task(f"loading model {what}", total=None, count="")
        try:
            yield
        finally:
            self.progress.remove_task(task)
            self._route_logs()

    def start_file(self, index: int, count: int, name: str) -> None:
        self._count = count
        if count > 1 and self._run_task is None:
            self._run_task = self.progress.add_task("all videos", total=count, count="")
        self._update_run()
        self._file_task = self.progress.add_task(
            f"[{index}/{count}] {name}", total=None, count="decoding"
        )

    def frames_done(self, done: int, total: int, steps_after: int = 0) -> None:
        """``done`` of ``total`` frames described; ``steps_after``: work still to come after
        them (speech), so the bar does not stand full while it runs."""
        if self._file_task is None:
            return
        steps = total + steps_after
        self.progress.update(
            self._file_task, completed=done, total=steps, count=f"{done}/{total} frames"
        )
        if self._run_task is not None and steps:
            self.progress.update(self._run_task, completed=self._files_done + done / steps)

    def phase(self, text: str) -> None:
        """What the current video is waiting on after its frames (speech ...)."""
        if self._file_task is not None:
            self.progress.update(self._file_task, count=text)

    def end_file(self) -> None:
        if self._file_task is not None:
            self.progress.remove_task(self._file_task)
            self._file_task = None
        self._files_done += 1
        if self._run_task is not None:
            self.progress.update(self._run_task, completed=self._files_done)
            self._update_run()

    def _update_run(self) -> None:
        if self._run_task is not None:
            fields: dict[str, Any] = {"count": f"{self._files_done}/{self._count} videos"}
            self.progress.update(self._run_task, **fields)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Take the bars off the screen while a report is printed, then draw them again."""
        self.progress.stop()
        try:
            yield
        finally:
            self.progress.start()


Display = NoDisplay | RichDisplay


def make_display(enabled: bool, stream: TextIO) -> Display:
    """A rich display when ``enabled`` and ``stream`` is a terminal, else one that draws nothing."""
    if enabled and stream.isatty():
        return RichDisplay(stream)
    return NoDisplay()
