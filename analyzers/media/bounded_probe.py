"""The probe in a child process with a memory and a time limit, so any file costs bounded memory.

Whatever a file declares, reading its headers happens in a fresh process whose
address space is capped (RLIMIT_AS) and which is killed after a deadline: the
caller's memory stays where it was, and a file that asks for too much is refused
with ``media_too_demanding``. The child prints its VideoInfo, or the error, as JSON.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import av

from analyzers.errors import (
    AnalyzerError,
    InputError,
    MediaTooDemandingError,
    TooManyStreamsError,
)
from analyzers.media import limits
from analyzers.media.limits import MediaLimits
from analyzers.media.probe import probe_video
from analyzers.schema import VideoInfo


@dataclass(frozen=True)
class ProbeBudget:
    """What one probe may use: address space and wall time."""

    memory_mb: int = 1024
    timeout_s: float = 30.0


def _error_classes(cls: type[AnalyzerError] = InputError) -> dict[str, type[AnalyzerError]]:
    found: dict[str, type[AnalyzerError]] = {cls.code: cls}
    for sub in cls.__subclasses__():
        found.update(_error_classes(sub))
    return found


def bounded_probe(path: Path, bounds: MediaLimits, budget: ProbeBudget) -> VideoInfo:
    """The file's VideoInfo, read by a child process within ``budget``; InputError if refused."""
    argv = [sys.executable, "-m", "analyzers.media.bounded_probe", str(path)]
    argv += [json.dumps(asdict(bounds)), str(budget.memory_mb)]
    # Few malloc arenas: each thread's would otherwise reserve 64 MB of the address space.
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=budget.timeout_s, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise MediaTooDemandingError(
            f"reading the file's headers took longer than {budget.timeout_s:g} s"
        ) from None
    lines = done.stdout.strip().splitlines()
    answer = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    if answer is None:  # killed, or failed where Python could not even report it
        raise MediaTooDemandingError(_over(budget.memory_mb))
    if "error" in answer:
        error_class = _error_classes().get(answer["error"]["code"], InputError)
        raise error_class(answer["error"]["message"])
    return VideoInfo.model_validate(answer["info"])


def _child(path: str, bounds: str, memory_mb: str) -> dict[str, object]:
    limits.configure(MediaLimits(**json.loads(bounds)))
    too_demanding = {"code": MediaTooDemandingError.code, "message": _over(int(memory_mb))}
    # This process is ours alone: FFmpeg's log may be turned on to tell the demuxer's
    # max_streams refusal from an allocation that failed under the cap (both are ENOMEM).
    av.logging.set_level(av.logging.ERROR)
    with av.logging.Capture() as logged:
        try:
            return {"info": probe_video(path).model_dump(mode="json")}
        except TooManyStreamsError as exc:
            from_count = exc.__context__ is None  # counted, not the demuxer's ENOMEM
            if from_count or any("max_streams" in message for _, _, message in logged):
                return {"error": {"code": exc.code, "message": exc.message}}
            return {"error": too_demanding}
        except InputError as exc:
            # Under the address-space cap, an allocation FFmpeg or the OS refused (ENOMEM)
            # while opening is the cap speaking, not a file that is no video.
            if os.strerror(errno.ENOMEM) in exc.message:
                return {"error": too_demanding}
            return {"error": {"code": exc.code, "message": exc.message}}
        except MemoryError:
            return {"error": too_demanding}


def _over(memory_mb: int) -> str:
    return f"reading the file's headers needed more than {memory_mb} MB of memory"


if __name__ == "__main__":
    cap = int(sys.argv[3]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    print(json.dumps(_child(*sys.argv[1:4])))
