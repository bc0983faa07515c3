"""The tiny random-weight BLIP-2: built offline, deterministic, loadable by the real code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

# Any hub access from here on is an error, not a slow retry loop.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from analyzers.models.loading import TEST_MODEL_MARKER, is_test_model  # noqa: E402
from analyzers.testing.tiny_model import make_test_model  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


def _file_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_writes_weights_processor_and_marker(tiny_model_dir: Path) -> None:
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", TEST_MODEL_MARKER} <= names
    assert {"processor_config.json", "tokenizer_config.json"} <= names
    marker = json.loads((tiny_model_dir / TEST_MODEL_MARKER).read_text())
    assert marker["test_model"] is True
    assert is_test_model(tiny_model_dir)


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path: Path) -> None:
    first = _file_bytes(make_test_model(tmp_path / "a", seed=3))
    second = _file_bytes(make_test_model(tmp_path / "b", seed=3))
    other = _file_bytes(make_test_model(tmp_path / "c", seed=4))
    assert first == second
    assert first["model.safetensors"] != other["model.safetensors"]
    assert first["tokenizer.json"] == other["tokenizer.json"]  # the tokenizer does not use the seed


def test_processor_tokenizer_and_model_agree(tiny_model_dir: Path) -> None:
    from transformers import Blip2ForConditionalGeneration, Blip2Processor

    processor = Blip2Processor.from_pretrained(tiny_model_dir)
    model = Blip2ForConditionalGeneration.from_pretrained(tiny_model_dir)
    tokenizer = processor.tokenizer
    assert processor.num_query_tokens == model.config.num_query_tokens
    image_id = tokenizer.convert_tokens_to_ids(str(processor.image_token))
    assert image_id == model.config.image_token_index
    assert len(tokenizer) <= model.config.text_config.vocab_size
    ids = tokenizer("Question: Where is this scene taking place? Answer:")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id  # BOS is added, as OPT's tokenizer does
    # Trained on the prompts: whole words, not bytes.
    assert len(ids) < 16
    assert "Answer" in tokenizer.decode(ids, skip_special_tokens=True)
    side = model.config.vision_config.image_size
    assert processor.image_processor.size == {"height": side, "width": side}


@pytest.mark.parametrize("quantization", ["fp32", "int8"])
def test_loads_quickly_through_from_pretrained(tiny_model_dir: Path, quantization: str) -> None:
    from transformers import BitsAndBytesConfig, Blip2ForConditionalGeneration, Blip2Processor

    kwargs: dict[str, object] = {"device_map": {"": "cpu"}, "dtype": torch.float32}
    if quantization == "int8":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        # First bitsandbytes use pays its import; the load itself is what is timed.
        Blip2ForConditionalGeneration.from_pretrained(tiny_model_dir, **kwargs)
    started = time.perf_counter()
    Blip2Processor.from_pretrained(tiny_model_dir)
    model = Blip2ForConditionalGeneration.from_pretrained(tiny_model_dir, **kwargs)
    elapsed = time.perf_counter() - started
    # Typically ~0.05 s; the bound leaves room for a busy CI machine.
    assert elapsed < 3.0
    q_proj = model.language_model.model.decoder.layers[0].self_attn.q_proj
    expected = torch.int8 if quantization == "int8" else torch.float32
    assert q_proj.weight.dtype == expected


def test_large_vision_tower_outweighs_language_model(tmp_path: Path) -> None:
    from transformers import Blip2ForConditionalGeneration

    model = Blip2ForConditionalGeneration.from_pretrained(
        make_test_model(tmp_path / "large", large_vision=True)
    )

    def params(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    assert params(model.vision_model) > 2 * params(model.language_model)


def test_builds_and_loads_with_the_network_blocked(tmp_path: Path) -> None:
    # A fresh interpreter, so HF_HUB_OFFLINE is read at import and sockets are refused.
    script = textwrap.dedent(
        f"""
        import socket

        def refuse(*args, **kwargs):
            raise OSError("network access attempted")

        socket.socket.connect = refuse
        socket.create_connection = refuse
        from pathlib import Path
        from analyzers.testing.tiny_model import make_test_model
        from transformers import Blip2ForConditionalGeneration, Blip2Processor
        out = make_test_model(Path({str(tmp_path / "offline")!r}))
        Blip2Processor.from_pretrained(out)
        Blip2ForConditionalGeneration.from_pretrained(out)
        print("ok")
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("ok")
