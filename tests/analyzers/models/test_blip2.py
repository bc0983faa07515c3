"""The BLIP-2 analyzer end to end on the tiny random-weight model, int8 and fp32."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Any hub access from here on is an error, not a slow retry loop.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from analyzers.answers import aggregate_aspects, summarize  # noqa: E402
from analyzers.aspects import DEFAULT_ASPECTS  # noqa: E402
from analyzers.base import AnalyzerConfig, FrameCaption  # noqa: E402
from analyzers.errors import AnalysisError, InvalidOptionError, ModelLoadError  # noqa: E402
from analyzers.models.blip2.analyzer import Blip2Analyzer  # noqa: E402
from analyzers.models.blip2.generation import prompt_input_ids  # noqa: E402
from analyzers.models.blip2.prompts import ASPECT_PROMPTS  # noqa: E402
from analyzers.models.loading import TEST_MODEL_MARKER  # noqa: E402
from analyzers.options import parse_aspects  # noqa: E402
from analyzers.registry import create_analyzer  # noqa: E402
from analyzers.schema import EMPTY_ANSWER, FrameDescription  # noqa: E402

FRAMES = 5
MAX_NEW_TOKENS = 12


def _config(model_dir: Path, quantization: str = "fp32", **overrides: Any) -> AnalyzerConfig:
    values: dict[str, Any] = {
        "model": str(model_dir),
        "quantization": quantization,
        "device": "auto",
        "batch_size": 32,
        "max_new_tokens": MAX_NEW_TOKENS,
    }
    return AnalyzerConfig(**(values | overrides))


def _images(count: int = FRAMES, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    # Portrait frames of varying size, as the decoder may hand over before resizing.
    return [rng.integers(0, 256, (64 + 8 * i, 36 + 4 * i, 3), dtype=np.uint8) for i in range(count)]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # The tiny model's matmuls are too small to split, and two OpenMP threads on a busy
    # 2-core runner spin against each other: 10-40x slower than one thread here.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def fp32(tiny_model_dir: Path) -> Blip2Analyzer:
    analyzer = Blip2Analyzer(_config(tiny_model_dir, "fp32"))
    analyzer.load()
    return analyzer


@pytest.fixture(scope="module")
def int8(tiny_model_dir: Path) -> Blip2Analyzer:
    analyzer = Blip2Analyzer(_config(tiny_model_dir, "int8"))
    analyzer.load()
    return analyzer


@pytest.fixture(scope="module")
def frames(fp32: Blip2Analyzer) -> torch.Tensor:
    prepared = fp32.preprocess(_images())
    assert isinstance(prepared, torch.Tensor)
    return prepared


def _assert_complete(captions: list[FrameCaption], aspects: tuple[str, ...]) -> None:
    assert len(captions) == FRAMES
    for fc in captions:
        assert isinstance(fc.caption, str) and fc.caption
        assert list(fc.aspects) == list(aspects)
        assert all(isinstance(a, str) and a for a in fc.aspects.values())


# --- loading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("quantization", ["fp32", "int8"])
def test_load_reports_model_info(tiny_model_dir: Path, quantization: str) -> None:
    analyzer = create_analyzer("blip2", _config(tiny_model_dir, quantization))
    assert isinstance(analyzer, Blip2Analyzer)
    assert analyzer.input_size is None  # unknown until loaded
    info = analyzer.load()
    assert info.name == str(tiny_model_dir)
    assert info.analyzer == "blip2"
    assert info.quantization == quantization
    assert info.device == "cpu"
    assert info.test_model is True
    assert analyzer.input_size == (32, 32)


def test_test_model_load_logs_a_warning(
    tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="analyzers.models.blip2.analyzer"):
        Blip2Analyzer(_config(tiny_model_dir)).load()
    assert "meaningless" in caplog.text


def test_model_without_marker_is_not_flagged(tiny_model_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_model_dir, tmp_path / "copy")
    (copy / TEST_MODEL_MARKER).unlink()
    assert Blip2Analyzer(_config(copy)).load().test_model is False


def test_missing_model_dir_names_the_model_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist.*TIKTOK_ANALYZER_MODEL"):
        Blip2Analyzer(_config(tmp_path / "no-such-model")).load()


def test_directory_without_a_model_names_the_model_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="TIKTOK_ANALYZER_MODEL"):
        Blip2Analyzer(_config(tmp_path)).load()


def test_unreachable_hub_names_the_model_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    # The hub cannot exist here; offline mode makes that an immediate error, not retries.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    config = AnalyzerConfig(
        model="tiktok-analyzer-tests/no-such-blip2", quantization="fp32", device="cpu"
    )
    with pytest.raises(ModelLoadError, match="Hugging Face Hub.*TIKTOK_ANALYZER_MODEL"):
        Blip2Analyzer(config).load()


def test_unreachable_hub_fails_in_seconds_not_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import time

    import huggingface_hub.constants

    # Online mode, but the hub endpoint is a loopback port nobody listens on.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{closed_port}")
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    config = AnalyzerConfig(
        model="tiktok-analyzer-tests/no-such-blip2", quantization="fp32", device="cpu"
    )
    started = time.monotonic()
    with pytest.raises(ModelLoadError, match="unreachable.*TIKTOK_ANALYZER_MODEL"):
        Blip2Analyzer(config).load()
    assert time.monotonic() - started < 30


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_cuda_names_the_device_setting(tiny_model_dir: Path, device: str) -> None:
    with pytest.raises(ModelLoadError, match="CUDA is not available.*TIKTOK_ANALYZER_DEVICE"):
        Blip2Analyzer(_config(tiny_model_dir, device=device)).load()


def test_unknown_device_names_the_device_setting(tiny_model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="TIKTOK_ANALYZER_DEVICE"):
        Blip2Analyzer(_config(tiny_model_dir, device="tpu")).load()


def test_load_errors_pickle_cleanly(tmp_path: Path) -> None:
    import pickle

    with pytest.raises(ModelLoadError) as info:
        Blip2Analyzer(_config(tmp_path / "missing")).load()
    clone = pickle.loads(pickle.dumps(info.value))
    assert str(clone) == str(info.value)


# --- describing ------------------------------------------------------------------------------


def test_preprocess_gives_model_sized_tensors(fp32: Blip2Analyzer, frames: torch.Tensor) -> None:
    assert frames.shape == (FRAMES, 3, 32, 32)
    assert frames.dtype == torch.float32
    empty = fp32.preprocess([])
    assert empty.shape == (0, 3, 32, 32)
    assert fp32.describe(empty, DEFAULT_ASPECTS) == []


@pytest.mark.parametrize("name", ["fp32", "int8"])
def test_every_frame_gets_a_caption_and_every_aspect(
    name: str, request: pytest.FixtureRequest, frames: torch.Tensor
) -> None:
    analyzer: Blip2Analyzer = request.getfixturevalue(name)
    captions = analyzer.describe(frames, DEFAULT_ASPECTS)
    _assert_complete(captions, DEFAULT_ASPECTS)


def test_fp32_vision_once_equals_naive_exactly(fp32: Blip2Analyzer, frames: torch.Tensor) -> None:
    once = fp32.describe(frames, DEFAULT_ASPECTS)
    naive = fp32.describe_naive(frames, DEFAULT_ASPECTS)
    assert once == naive
    # The comparison means something only if answers differ between prompts.
    assert len({a for fc in once for a in fc.aspects.values()}) > 1


def test_int8_without_outlier_split_equals_naive_exactly(
    tiny_model_dir: Path, frames: torch.Tensor
) -> None:
    # LLM.int8 picks outlier columns per batch (threshold 6.0), so with it on, answers depend
    # on which rows share a batch. With it off, per-row int8 is batch-independent, and the
    # vision-once path must then match the naive path token for token.
    analyzer = Blip2Analyzer(_config(tiny_model_dir, "int8"), llm_int8_threshold=0.0)
    analyzer.load()
    assert analyzer.describe(frames, DEFAULT_ASPECTS) == analyzer.describe_naive(
        frames, DEFAULT_ASPECTS
    )


def test_batch_size_does_not_change_fp32_answers(
    tiny_model_dir: Path, fp32: Blip2Analyzer, frames: torch.Tensor
) -> None:
    small = Blip2Analyzer(_config(tiny_model_dir, batch_size=4))
    small.load()
    assert small.describe(frames, DEFAULT_ASPECTS) == fp32.describe(frames, DEFAULT_ASPECTS)


def test_vision_runs_once_per_frame_and_generate_once_per_batch(
    tiny_model_dir: Path, frames: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyzer = Blip2Analyzer(_config(tiny_model_dir, batch_size=8))
    analyzer.load()
    model = analyzer.loaded.model
    seen: list[int] = []
    hook = model.vision_model.register_forward_hook(
        lambda _m, args, _out: seen.append(int(args[0].shape[0]))
    )
    calls: list[int] = []
    real_generate = model.language_model.generate

    def counting_generate(*args: Any, **kwargs: Any) -> Any:
        calls.append(int(kwargs["inputs_embeds"].shape[0]))
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(model.language_model, "generate", counting_generate)
    try:
        analyzer.describe(frames, DEFAULT_ASPECTS)
        rows = FRAMES * (1 + len(DEFAULT_ASPECTS))
        assert sum(seen) == FRAMES  # every frame through the vision tower exactly once
        assert calls == [8] * (rows // 8) + ([rows % 8] if rows % 8 else [])
        seen.clear()
        analyzer.describe_naive(frames, DEFAULT_ASPECTS)
        assert sum(seen) == FRAMES * (1 + len(DEFAULT_ASPECTS))  # once per prompt
    finally:
        hook.remove()


def test_prompt_ids_match_what_the_processor_builds(fp32: Blip2Analyzer) -> None:
    loaded = fp32.loaded
    image = _images(1)[0]
    for prompt in ["", *ASPECT_PROMPTS.values()]:
        built = loaded.processor(images=[image], text=[prompt], return_tensors="pt")
        ours = prompt_input_ids(loaded.processor.tokenizer, prompt, loaded.spec)
        assert built["input_ids"][0].tolist() == ours


def test_progress_counts_frames_as_batches_finish(tiny_model_dir: Path) -> None:
    analyzer = Blip2Analyzer(_config(tiny_model_dir, batch_size=6))
    analyzer.load()
    prepared = analyzer.preprocess(_images())
    reports: list[tuple[int, int]] = []
    analyzer.describe(
        prepared, ("scene", "mood"), lambda done, total: reports.append((done, total))
    )
    # 5 frames x 3 prompts = 15 rows in batches of 6: after 6, 12, 15 rows.
    assert reports == [(2, FRAMES), (4, FRAMES), (5, FRAMES)]


def test_aspect_subset_and_aliases(fp32: Blip2Analyzer, frames: torch.Tensor) -> None:
    # Aliases are resolved once, at intake; the analyzer gets canonical names in order.
    aspects = parse_aspects(("setting", "mood", "scene"))
    assert aspects == ("scene", "mood")
    captions = fp32.describe(frames, aspects)
    assert all(list(fc.aspects) == ["scene", "mood"] for fc in captions)
    full = fp32.describe(frames, DEFAULT_ASPECTS)
    assert [fc.aspects["mood"] for fc in captions] == [fc.aspects["mood"] for fc in full]
    assert [fc.caption for fc in captions] == [fc.caption for fc in full]


def test_unknown_aspect_is_an_invalid_option() -> None:
    with pytest.raises(InvalidOptionError, match="weather"):
        parse_aspects("scene,weather")


def test_describe_rejects_what_preprocess_did_not_make(fp32: Blip2Analyzer) -> None:
    with pytest.raises(AnalysisError):
        fp32.describe(_images(), DEFAULT_ASPECTS)


def test_describe_before_load_is_an_analysis_error(tiny_model_dir: Path) -> None:
    with pytest.raises(AnalysisError, match="not loaded"):
        Blip2Analyzer(_config(tiny_model_dir)).preprocess(_images())


def test_the_hanging_test_analyzer_delays_describe(
    tiny_model_dir: Path, frames: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOK_ANALYZER_TEST_HANG_S", "0.3")
    analyzer = create_analyzer("blip2-hanging", _config(tiny_model_dir))
    assert isinstance(analyzer, Blip2Analyzer) and type(analyzer).__module__.startswith(
        "analyzers.testing."
    )
    analyzer.load()
    started = time.perf_counter()
    analyzer.describe(frames[:1], ("scene",))
    assert time.perf_counter() - started >= 0.3


def test_preprocess_in_a_thread_while_describe_runs(
    fp32: Blip2Analyzer, frames: torch.Tensor
) -> None:
    expected = fp32.preprocess(_images(seed=7))
    results: list[torch.Tensor] = []

    def worker() -> None:
        for _ in range(3):
            results.append(fp32.preprocess(_images(seed=7)))

    thread = threading.Thread(target=worker)
    thread.start()
    captions = fp32.describe(frames, DEFAULT_ASPECTS)
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(results) == 3 and all(torch.equal(r, expected) for r in results)
    assert captions == fp32.describe(frames, DEFAULT_ASPECTS)


def test_release_memory_is_safe_any_time(tiny_model_dir: Path, fp32: Blip2Analyzer) -> None:
    Blip2Analyzer(_config(tiny_model_dir)).release_memory()
    fp32.release_memory()


def test_results_aggregate_and_summarize(fp32: Blip2Analyzer, frames: torch.Tensor) -> None:
    captions = fp32.describe(frames, DEFAULT_ASPECTS)
    described = [
        FrameDescription(timestamp_s=1.5 * i, caption=fc.caption, aspects=fc.aspects)
        for i, fc in enumerate(captions)
    ]
    aggregated = aggregate_aspects(described, DEFAULT_ASPECTS)
    assert list(aggregated) == list(DEFAULT_ASPECTS)
    for answers in aggregated.values():
        assert sum(a.frames for a in answers) == FRAMES
        assert all(a.text for a in answers)
    summary = summarize(described, aggregated)
    assert summary.startswith(f"{FRAMES} frames sampled from 0.0 s to 6.0 s.")
    assert EMPTY_ANSWER not in summary


# --- several videos at once, and running out of memory ---------------------------------------


def test_describe_many_equals_one_at_a_time_in_fp32(
    tiny_model_dir: Path, fp32: Blip2Analyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three videos, different lengths and aspects: 5x3 + 2x2 + 3x1 = 22 rows.
    videos = [
        (fp32.preprocess(_images(5, seed=1)), ("scene", "mood")),
        (fp32.preprocess(_images(2, seed=2)), ("people",)),
        (fp32.preprocess(_images(3, seed=3)), ()),
    ]
    alone = [fp32.describe(prepared, aspects) for prepared, aspects in videos]
    shared = Blip2Analyzer(_config(tiny_model_dir, batch_size=8))
    shared.load()
    model = shared.loaded.model
    calls: list[int] = []
    real_generate = model.language_model.generate

    def counting_generate(*args: Any, **kwargs: Any) -> Any:
        calls.append(int(kwargs["inputs_embeds"].shape[0]))
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(model.language_model, "generate", counting_generate)
    reports: list[tuple[int, int]] = []
    together = shared.describe_many(videos, lambda done, total: reports.append((done, total)))
    assert together == alone
    assert calls == [8, 8, 6]  # rows of different videos share calls: 3 calls, not 2 + 1 + 1
    assert reports[-1] == (10, 10) and [d for d, _ in reports] == sorted(d for d, _ in reports)
    assert len({fc.caption for captions in together for fc in captions}) > 1


def test_describe_many_default_describes_one_by_one(
    fp32: Blip2Analyzer, frames: torch.Tensor
) -> None:
    from analyzers.base import Analyzer

    # The contract's default (what an analyzer without batching gets) gives the same answers.
    default = Analyzer.describe_many(fp32, [(frames, ("scene",)), (frames[:2], ())])
    assert default == [fp32.describe(frames, ("scene",)), fp32.describe(frames[:2], ())]


def _holding_rows(analyzer: Blip2Analyzer, rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The analyzer's device holds ``rows`` rows per generate(): more raise OutOfMemoryError."""
    language_model = analyzer.loaded.model.language_model
    real_generate = language_model.generate

    def small_gpu(*args: Any, **kwargs: Any) -> Any:
        if kwargs["inputs_embeds"].shape[0] > rows:
            raise torch.OutOfMemoryError(f"test: the device holds {rows} rows")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(language_model, "generate", small_gpu)


def test_out_of_memory_retries_with_half_the_batch(
    tiny_model_dir: Path,
    fp32: Blip2Analyzer,
    frames: torch.Tensor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The device holds 5 rows per generate(): 32 fails, 16 fails, 8 fails, 4 fits.
    analyzer = Blip2Analyzer(_config(tiny_model_dir, batch_size=32))
    analyzer.load()
    _holding_rows(analyzer, 5, monkeypatch)
    assert analyzer.describe(frames, DEFAULT_ASPECTS) == fp32.describe(frames, DEFAULT_ASPECTS)
    assert analyzer.take_warnings() == [
        "out of memory at batch size 32: the frames were described with batch size 4; "
        "lower TIKTOK_ANALYZER_BATCH_SIZE to 4 to avoid the retries"
    ]
    assert analyzer.take_warnings() == []  # handed over once
    analyzer.describe(frames[:1], ("scene",))  # 2 rows fit at once: no warning
    assert analyzer.take_warnings() == []


def test_out_of_memory_even_at_batch_size_one_fails(
    tiny_model_dir: Path, frames: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyzer = Blip2Analyzer(_config(tiny_model_dir, batch_size=4))
    analyzer.load()
    _holding_rows(analyzer, 0, monkeypatch)
    with pytest.raises(AnalysisError, match="out of memory while describing frames, even one"):
        analyzer.describe(frames, ("scene",))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
def test_gpu_runbook_runs_on_the_cpu(
    tiny_model_dir: Path, short_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.gpu import main

    args = [str(short_video), str(short_video), "--model", str(tiny_model_dir), "--frames", "2"]
    assert main([*args, "--quantization", "fp32", "--group", "2", "--max-new-tokens", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("NO GPU FOUND")
    assert "## fp32: " in out and "RANDOM-WEIGHT TEST MODEL" in out
    assert "one at a time: 2 videos in " in out
    assert "2 at a time (describe_many): 2 videos in " in out
    assert "% (" not in out and "GiB" not in out  # no GPU figure for a GPU that is not there
