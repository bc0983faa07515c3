"""The speech model: a faster-whisper (CTranslate2) Whisper, named, found and loaded once.

``TIKTOK_ANALYZER_ASR_MODEL`` is a faster-whisper size name (``small``,
``large-v3-turbo``, ``distil-large-v3`` ...) fetched into the Hugging Face hub cache on
first use, a CTranslate2 repository on the hub, or a local CTranslate2 directory. The
transformers ids earlier releases took (``openai/whisper-small`` ...) still work: they
name the matching faster-whisper model, and the log says so.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyzers.errors import ModelLoadError
from analyzers.models.loading import first_line, looks_like_path, require_hub_reachable

logger = logging.getLogger(__name__)

ASR_HINT = "set TIKTOK_ANALYZER_ASR_MODEL to a faster-whisper size name or a local directory"
#: CTranslate2 compute types by device, for TIKTOK_ANALYZER_ASR_COMPUTE_TYPE=auto
AUTO_COMPUTE = {"cpu": "int8", "cuda": "float16"}
#: the transformers repositories of earlier releases -> the size name they correspond to
_TRANSFORMERS_IDS = re.compile(r"^(?:openai/whisper-|distil-whisper/(?=distil-))(?P<size>[\w.-]+)$")
#: openai/whisper-large is the first large Whisper; faster-whisper's "large" is v3
_RENAMED = {"large": "large-v1"}


@dataclass(frozen=True)
class AsrModel:
    """A loaded faster-whisper model and what it is."""

    model: Any
    #: what the setting named, resolved: a size name, a hub repository or a directory
    name: str
    device: str
    compute_type: str

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)


def resolve_asr_model(name: str) -> str:
    """The faster-whisper model a setting names: transformers ids mapped to size names."""
    match = _TRANSFORMERS_IDS.match(name.strip())
    if match is None:
        return name.strip()
    from faster_whisper import available_models

    size = _RENAMED.get(match["size"], match["size"])
    if size not in available_models():
        return name.strip()
    logger.info(
        "ASR model %r is a transformers id; using the matching faster-whisper model %r",
        name,
        size,
    )
    return size


def asr_device(device: str) -> tuple[str, int]:
    """CTranslate2's (device, index) for the analyzer's device setting (auto, cpu, cuda:N)."""
    if device == "auto":
        import ctranslate2

        return ("cuda", 0) if ctranslate2.get_cuda_device_count() > 0 else ("cpu", 0)
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda"):
        raise ModelLoadError(f"the speech model cannot run on device {device!r}; use cpu or cuda")
    return kind, int(index or 0)


def load_asr(name: str, device: str = "auto", compute_type: str = "auto") -> AsrModel:
    """The model from a local directory, the hub cache or the hub, else ModelLoadError."""
    source = resolve_asr_model(name)
    path = Path(source).expanduser()
    local = path.is_dir()
    if not local and (path.exists() or looks_like_path(source)):
        raise ModelLoadError(f"ASR model directory {name!r} does not exist; {ASR_HINT}")
    kind, index = asr_device(device)
    compute = AUTO_COMPUTE[kind] if compute_type == "auto" else compute_type
    target = str(path) if local else source
    try:
        model = _whisper(target, kind, index, compute, cache_only=True)
    except (OSError, ValueError) as exc:  # huggingface_hub: not in the cache
        if local:
            raise _cannot_load(name, kind, exc) from exc
        model = _from_hub(target, kind, index, compute)
    except RuntimeError as exc:  # CTranslate2: a broken model or an unsupported compute type
        raise _cannot_load(name, kind, exc) from exc
    return AsrModel(model=model, name=target, device=kind, compute_type=compute)


def _whisper(source: str, device: str, index: int, compute: str, *, cache_only: bool) -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(
        source,
        device=device,
        device_index=index,
        compute_type=compute,
        local_files_only=cache_only,
    )


def _from_hub(source: str, device: str, index: int, compute: str) -> Any:
    try:
        # The same quick reachability check as BLIP-2's, so a dead hub fails in seconds.
        require_hub_reachable(source, what="the speech model", hint=ASR_HINT)
        return _whisper(source, device, index, compute, cache_only=False)
    except (ModelLoadError, OSError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot load the speech model {source!r}: not in the local cache and the Hugging "
            f"Face Hub cannot provide it ({first_line(exc)}); download it on a connected "
            f"machine, or {ASR_HINT}"
        ) from exc
    except RuntimeError as exc:
        raise _cannot_load(source, device, exc) from exc


def _cannot_load(name: str, device: str, exc: BaseException) -> ModelLoadError:
    return ModelLoadError(
        f"cannot load the speech model {name!r} on {device}: {first_line(exc)}; {ASR_HINT}"
    )
