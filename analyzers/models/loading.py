"""Checks and messages shared by every model loader (BLIP-2, video LLMs, Whisper)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from analyzers.base import AnalyzerConfig
from analyzers.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

_DEVICE_HINT = "set TIKTOK_ANALYZER_DEVICE (or --device) to cpu or auto"
_QUANT_HINT = "set TIKTOK_ANALYZER_QUANTIZATION (or --quantization)"

#: what from_pretrained raises for files, settings or devices that do not fit
LOAD_ERRORS = (OSError, ValueError, RuntimeError, ImportError, KeyError, TypeError)

_T = TypeVar("_T")

#: file the test-model builders (analyzers.testing) write beside random weights
TEST_MODEL_MARKER = "tiktok_analyzer_test_model.json"


def is_test_model(model_dir: Path) -> bool:
    """True when model_dir holds a random-weight test model (its marker file is there)."""
    return (Path(model_dir) / TEST_MODEL_MARKER).is_file()


def resolve_device(device: str) -> str:
    """'auto' -> first visible CUDA GPU or 'cpu'; 'cuda' -> 'cuda:0'; checks the GPU exists."""
    import torch  # here, not at the top: the front imports is_test_model and stays torch-free

    name = device.strip().lower()
    if name in ("", "auto"):
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name != "cuda" and not name.startswith("cuda:"):
        raise ModelLoadError(
            f"unknown device {device!r}; set TIKTOK_ANALYZER_DEVICE (or --device) "
            "to auto, cpu, cuda or cuda:N"
        )
    if not torch.cuda.is_available():
        raise ModelLoadError(
            f"device {device!r} asked for, but CUDA is not available to torch "
            f"{torch.__version__}; {_DEVICE_HINT}"
        )
    index_text = name.partition(":")[2] or "0"
    count = torch.cuda.device_count()
    if not index_text.isdigit() or int(index_text) >= count:
        raise ModelLoadError(
            f"device {device!r} does not exist ({count} CUDA device(s) visible); "
            "set TIKTOK_ANALYZER_DEVICE (or --device) to auto or cuda:0..cuda:"
            f"{max(count - 1, 0)}"
        )
    return f"cuda:{int(index_text)}"


def looks_like_path(model: str) -> bool:
    """True when a model name is meant as a local path rather than a hub id."""
    # Hub ids are "name" or "org/name"; anything else that names a path is meant to be local.
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model


def require_readable(directory: Path, *, hint: str) -> None:
    """ModelLoadError naming the file and the user when a model file cannot be read.

    Without this, transformers reports an unreadable weights file (mode 600, owned by
    root) as 'No such file or directory', which sends an operator the wrong way.
    """
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not os.access(path, os.R_OK):
            user = _user_name()
            raise ModelLoadError(
                f"permission denied: user {user} cannot read {path}; make the model files "
                f"readable (chmod -R a+rX {directory}) or {hint}"
            )


def _user_name() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its class name when it has none."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_error(
    what: str, config: AnalyzerConfig, exc: BaseException, *, local: bool, hint: str
) -> ModelLoadError:
    """One line naming the model, what went wrong and the setting to change."""
    if isinstance(exc, OSError):
        where = "the directory" if local else "the Hugging Face Hub (offline, or not cached)"
        advice = hint if local else f"download it on a connected machine, or {hint}"
        return ModelLoadError(
            f"cannot load {what} {config.model!r} from {where}: {first_line(exc)}; {advice}"
        )
    return ModelLoadError(
        f"cannot load {what} {config.model!r} with quantization {config.quantization} on "
        f"{config.device}: {first_line(exc)}; check TIKTOK_ANALYZER_MODEL, "
        "TIKTOK_ANALYZER_QUANTIZATION and TIKTOK_ANALYZER_DEVICE"
    )


def require_hub_reachable(model: str, *, what: str, hint: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds, not after minutes of huggingface_hub retries, if the hub is unreachable."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return  # huggingface_hub fails at once by itself
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY")):
        return  # only the proxy can tell; let huggingface_hub try through it

    endpoint = urlsplit(constants.ENDPOINT)
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        raise ModelLoadError(
            f"cannot download {what} {model!r}: {host} is unreachable ({exc}) and the "
            f"model is not in the local cache; download it on a connected machine, or {hint}"
        ) from exc


def from_pretrained_kwargs(
    config: AnalyzerConfig, device: str, llm_int8_threshold: float
) -> tuple[dict[str, Any], torch.dtype]:
    """from_pretrained's device map, dtype and quantization for the config, and the dtype."""
    import torch

    quant = config.quantization
    on_cpu = device == "cpu"
    kwargs: dict[str, Any] = {"device_map": {"": device}}
    if quant == "int8":
        # bitsandbytes warns at import that its optional 4-bit CPU kernels are missing;
        # only int8 is used here, so that line would only mislead whoever reads the log.
        logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
        try:
            import bitsandbytes  # noqa: F401
            from transformers import BitsAndBytesConfig
        except ImportError as exc:
            raise ModelLoadError(
                f"int8 needs bitsandbytes, which cannot be imported ({exc}); install it or "
                f"{_QUANT_HINT} to fp16, bf16 or fp32"
            ) from exc
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_8bit=True, llm_int8_threshold=llm_int8_threshold
        )
        # Non-quantized parts: fp16 on a GPU (the usual LLM.int8 setup), fp32 on a CPU where
        # fp32 is the native fast path.
        dtype = torch.float32 if on_cpu else torch.float16
    else:
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[quant]
    if quant == "bf16" and not on_cpu and not torch.cuda.is_bf16_supported():
        raise ModelLoadError(f"this GPU has no bf16 support; {_QUANT_HINT} to fp16 or int8")
    if quant == "fp16" and on_cpu:
        logger.warning("fp16 on the CPU works but runs ~3x slower than fp32; prefer fp32 there")
    kwargs["dtype"] = dtype
    return kwargs, dtype


@dataclass(frozen=True)
class LoadPlan:
    """Where from_pretrained reads a model from and how it places it, settled before loading."""

    #: the model directory, or the hub id
    source: str
    local: bool
    device: str
    kwargs: dict[str, Any]
    dtype: torch.dtype
    test_model: bool


def prepare_load(config: AnalyzerConfig, *, hint: str, llm_int8_threshold: float = 6.0) -> LoadPlan:
    """Check the model setting, device and quantization; ModelLoadError naming the setting."""
    path = Path(config.model).expanduser()
    local = path.is_dir()
    if not local and (path.exists() or looks_like_path(config.model)):
        what = "is not a directory" if path.exists() else "does not exist"
        raise ModelLoadError(f"model directory {config.model!r} ({path.resolve()}) {what}; {hint}")
    if local:
        require_readable(path, hint=hint)
    device = resolve_device(config.device)
    kwargs, dtype = from_pretrained_kwargs(config, device, llm_int8_threshold)
    # The per-batch "inputs will be cast to float16" notice from bitsandbytes would flood the log.
    logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)
    # Weight-loading progress bars are for notebooks; in worker logs and the CLI they are noise.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    return LoadPlan(
        source=str(path) if local else config.model,
        local=local,
        device=device,
        kwargs=kwargs,
        dtype=dtype,
        test_model=local and is_test_model(path),
    )


def load_cache_first(
    load: Callable[[bool], _T], plan: LoadPlan, config: AnalyzerConfig, *, what: str, hint: str
) -> _T:
    """load(cache_only) from the hub cache first, then the hub; ModelLoadError when neither can."""
    try:
        try:
            # The hub cache first: a pre-downloaded model then starts without the network,
            # instead of waiting minutes on huggingface_hub's retries when the hub is unreachable.
            return load(True)
        except OSError:
            if plan.local:
                raise
        require_hub_reachable(config.model, what=what, hint=hint)
        return load(False)
    except LOAD_ERRORS as exc:
        raise load_error(what, config, exc, local=plan.local, hint=hint) from exc
