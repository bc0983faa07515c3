"""The video-llm analyzer end to end on tiny random-weight Qwen2-VL, LLaVA-OneVision and LLaVA."""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# Any hub access from here on is an error, not a slow retry loop.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from analyzers.base import AnalyzerConfig  # noqa: E402
from analyzers.errors import ModelLoadError  # noqa: E402
from analyzers.models.batching import left_pad  # noqa: E402
from analyzers.models.loading import TEST_MODEL_MARKER  # noqa: E402
from analyzers.models.video_llm.analyzer import (  # noqa: E402
    DESCRIPTION_TOKEN_FACTOR,
    VideoInput,
    VideoLLMAnalyzer,
)
from analyzers.models.video_llm.generation import generation_spec, prompt_ids, prompt_text  # noqa: E402
from analyzers.models.video_llm.prompting import (  # noqa: E402
    DESCRIPTION_PROMPT,
    aspect_prompt,
    time_instruction,
)
from analyzers.options import AnalysisOptions  # noqa: E402
from analyzers.pipeline import (  # noqa: E402
    TEST_MODEL_WARNING,
    analyze_video,
    describe_prepared,
    prepare,
)
from analyzers.registry import create_analyzer  # noqa: E402
from analyzers.schema import EMPTY_ANSWER, AnalysisResult  # noqa: E402
from analyzers.testing.tiny_model import make_tiny_model  # noqa: E402
from analyzers.testing.tiny_video_models import make_qwen2_5_vl  # noqa: E402

KINDS = ("qwen2-vl", "llava-onevision", "llava")
MODEL_TYPES = {"qwen2-vl": "qwen2_vl", "llava-onevision": "llava_onevision", "llava": "llava"}
#: Qwen2.5-VL shares Qwen2-VL's code path; its tiny model is built here, not a make-test-model kind
QWEN25 = "qwen2.5-vl"
MAX_NEW_TOKENS = 6
FRAMES = 4
ASPECTS = ("scene", "mood")

Factory = Callable[..., VideoLLMAnalyzer]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # Tiny matmuls: one thread is faster than two fighting on a busy 2-core runner.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-video-llms")
    dirs = {kind: make_tiny_model(kind, root / kind) for kind in KINDS}
    dirs[QWEN25] = make_qwen2_5_vl(root / QWEN25)
    return dirs


def _config(model_dir: Path, quantization: str = "fp32", **overrides: Any) -> AnalyzerConfig:
    values: dict[str, Any] = {
        "model": str(model_dir),
        "quantization": quantization,
        "device": "cpu",
        "batch_size": 8,
        "max_new_tokens": MAX_NEW_TOKENS,
    }
    return AnalyzerConfig(**(values | overrides))


@pytest.fixture(scope="module")
def loaded_analyzer(model_dirs: dict[str, Path]) -> Factory:
    """Loaded analyzers by (kind, quantization, ratio), each loaded once per module."""
    cache: dict[tuple[str, str, float], VideoLLMAnalyzer] = {}

    def get(kind: str, quantization: str = "fp32", ratio: float = 1.0) -> VideoLLMAnalyzer:
        key = (kind, quantization, ratio)
        if key not in cache:
            config = _config(model_dirs[kind], quantization, token_merge_ratio=ratio)
            analyzer = create_analyzer("video-llm", config)
            assert isinstance(analyzer, VideoLLMAnalyzer)
            analyzer.load()
            cache[key] = analyzer
        return cache[key]

    return get


@pytest.fixture(scope="module")
def options() -> AnalysisOptions:
    return AnalysisOptions.create(
        frames=FRAMES,
        aspects=",".join(ASPECTS),
        max_frames=16,
        decoder="auto",
        decode_timeout_s=60,
        max_duration_s=600,
        seek="exact",
    )


def _images(count: int = FRAMES, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (96, 54, 3), dtype=np.uint8) for _ in range(count)]


TIMESTAMPS = [0.5, 1.5, 2.5, 3.5]


# --- test models -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_test_model_has_the_family_model_type(model_dirs: dict[str, Path], kind: str) -> None:
    config = json.loads((model_dirs[kind] / "config.json").read_text())
    assert config["model_type"] == MODEL_TYPES[kind]
    assert json.loads((model_dirs[kind] / TEST_MODEL_MARKER).read_text())["test_model"] is True
    assert "chat_template" in " ".join(p.name for p in model_dirs[kind].iterdir())


# --- loading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("quantization", ["fp32", "int8"])
@pytest.mark.parametrize("kind", KINDS)
def test_load_reports_model_info(loaded_analyzer: Factory, kind: str, quantization: str) -> None:
    analyzer = loaded_analyzer(kind, quantization)
    assert analyzer.loaded.family.name == kind
    if quantization == "int8":
        assert getattr(analyzer.loaded.model, "is_loaded_in_8bit", False)
    info = analyzer.load()
    assert info.analyzer == "video-llm"
    assert info.experimental is True
    assert info.test_model is True
    assert info.quantization == quantization
    assert info.device == "cpu"


def test_missing_weights_name_the_setting(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    copy = shutil.copytree(model_dirs["llava"], tmp_path / "no-weights")
    (copy / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="TIKTOK_ANALYZER_MODEL"):
        VideoLLMAnalyzer(_config(copy)).load()


def test_missing_directory_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist.*TIKTOK_ANALYZER_MODEL"):
        VideoLLMAnalyzer(_config(tmp_path / "nowhere")).load()


def test_uncached_hub_id_fails_offline_naming_the_setting() -> None:
    with pytest.raises(ModelLoadError, match="TIKTOK_ANALYZER_MODEL"):
        VideoLLMAnalyzer(_config(Path("no-such-org/no-such-video-llm"))).load()


def test_blip2_model_is_refused_with_its_model_type(tiny_model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="model_type 'blip-2'.*TIKTOK_ANALYZER_MODEL"):
        VideoLLMAnalyzer(_config(tiny_model_dir)).load()


def test_template_without_frames_is_refused(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    copy = shutil.copytree(model_dirs["llava"], tmp_path / "text-only-template")
    text_only = "{% for m in messages %}{{ m['content'][-1]['text'] }}{% endfor %}"
    (copy / "chat_template.jinja").write_text(text_only)
    with pytest.raises(ModelLoadError, match="chat template does not place the frames"):
        VideoLLMAnalyzer(_config(copy)).load()


def test_merge_ratio_out_of_range_names_the_setting(model_dirs: dict[str, Path]) -> None:
    with pytest.raises(ModelLoadError, match="TIKTOK_ANALYZER_TOKEN_MERGE_RATIO"):
        VideoLLMAnalyzer(_config(model_dirs["llava"], token_merge_ratio=0.0))


# --- the whole pipeline ----------------------------------------------------------------------


def _assert_valid(result: AnalysisResult, kind: str) -> None:
    duration = result.video.duration_s
    assert result.model.analyzer == "video-llm" and result.model.experimental
    assert len(result.frames) == FRAMES
    for frame in result.frames:
        # Random weights never write "START-END s:" lines: no per-frame fields.
        assert frame.caption == "" and frame.aspects == {}
    assert list(result.aspects) == list(ASPECTS)
    for answers in result.aspects.values():
        assert len(answers) == 1
        assert answers[0].text
        assert answers[0].time_ranges == [(0.0, duration)]
        assert answers[0].frames == FRAMES
    assert result.summary
    assert TEST_MODEL_WARNING in result.warnings
    AnalysisResult.model_validate_json(result.model_dump_json())


@pytest.mark.parametrize(
    ("kind", "quantization"),
    [(k, q) for k in KINDS for q in ("fp32", "int8")] + [(QWEN25, "fp32")],
)
def test_analyze_video_gives_a_valid_result(
    loaded_analyzer: Factory,
    short_video: Path,
    options: AnalysisOptions,
    kind: str,
    quantization: str,
) -> None:
    analyzer = loaded_analyzer(kind, quantization)
    info = analyzer.load()
    steps: list[tuple[int, int]] = []
    result = analyze_video(short_video, analyzer, info, options, lambda d, t: steps.append((d, t)))
    _assert_valid(result, kind)
    assert steps[-1] == (1 + len(ASPECTS), 1 + len(ASPECTS))


def test_worker_holds_the_analyzer(
    model_dirs: dict[str, Path], short_video: Path, options: AnalysisOptions
) -> None:
    """What a worker does: registry -> load -> prepare (in a thread) -> describe_prepared."""
    from api.settings import Settings

    settings = Settings(
        analyzer="video-llm", model=str(model_dirs["qwen2-vl"]), quantization="fp32"
    )
    analyzer = create_analyzer(settings.analyzer, settings.analyzer_config("cpu"))
    info = analyzer.load()
    prepared: list[Any] = []
    thread = threading.Thread(
        target=lambda: prepared.append(prepare(short_video, analyzer, options))
    )
    thread.start()
    thread.join(timeout=60)
    assert prepared, "prepare did not finish"
    assert isinstance(prepared[0].model_input, VideoInput)
    _assert_valid(describe_prepared(prepared[0], analyzer, info), "qwen2-vl")


def test_frame_contract_fallback_answers_every_aspect(loaded_analyzer: Factory) -> None:
    analyzer = loaded_analyzer("llava")
    captions = analyzer.describe(analyzer.preprocess(_images()), ASPECTS)
    assert len(captions) == FRAMES
    assert all(list(c.aspects) == list(ASPECTS) and c.caption for c in captions)


def test_no_frames_gives_empty_answers(loaded_analyzer: Factory) -> None:
    analyzer = loaded_analyzer("llava")
    video = analyzer.describe_video(analyzer.preprocess([]), ASPECTS, [], 3.0)
    assert video.frames == []
    assert [a.text for a in video.aspects["scene"]] == [EMPTY_ANSWER]


# --- token merging ---------------------------------------------------------------------------


def _stock_inputs(analyzer: VideoLLMAnalyzer, kind: str, question: str) -> dict[str, Any]:
    """What the stock processor + model.generate would get, built without our merging code."""
    loaded = analyzer.loaded
    ids = prompt_ids(loaded, FRAMES, time_instruction(4.0, TIMESTAMPS), question)
    if kind == "llava":
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(analyzer.config.model)
        text = prompt_text(loaded, FRAMES, time_instruction(4.0, TIMESTAMPS), question)
        batch = processor(text=[text], images=_images(), return_tensors="pt")
        return dict(batch)
    # Qwen2VLProcessor / LlavaOnevisionProcessor cannot be built without torchvision: expand
    # the placeholders by the model's own rule and let the model compute features and positions.
    prepared = analyzer.preprocess(_images())
    placeholder = loaded.family.placeholder_id
    if kind.startswith("qwen"):
        grid = prepared.tensors["image_grid_thw"]
        counts = (grid.prod(-1) // 4).tolist()
    else:
        cfg = loaded.model.config.vision_config
        side = math.ceil(cfg.image_size // cfg.patch_size / 2)
        counts = [FRAMES * side * side + 1]  # pooled tokens per frame, one newline
    expanded: list[int] = []
    frame = 0
    for token in ids:
        repeat = counts[frame] if token == placeholder else 1
        frame += token == placeholder
        expanded.extend([token] * repeat)
    input_ids, mask = left_pad([expanded], 0)
    inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask, **prepared.tensors}
    if kind.startswith("qwen"):
        inputs["mm_token_type_ids"] = (input_ids == placeholder).int()
    return inputs


@pytest.mark.parametrize("kind", [*KINDS, QWEN25])
def test_ratio_one_is_identical_to_stock_generate(loaded_analyzer: Factory, kind: str) -> None:
    """Ratio 1.0 (no merging) gives token for token what model.generate gives unmerged."""
    analyzer = loaded_analyzer(kind, "fp32", 1.0)
    loaded = analyzer.loaded
    spec = generation_spec(loaded)
    texts = analyzer.generate_texts(analyzer.preprocess(_images()), ["scene"], TIMESTAMPS, 4.0)
    for question, ours, budget in (
        (DESCRIPTION_PROMPT, texts[0], DESCRIPTION_TOKEN_FACTOR * MAX_NEW_TOKENS),
        (aspect_prompt("scene"), texts[1], MAX_NEW_TOKENS),
    ):
        inputs = _stock_inputs(analyzer, kind, question)
        with torch.no_grad():
            out = loaded.model.generate(**inputs, **spec.generate_kwargs(budget))
        new = out[0, inputs["input_ids"].shape[1] :].tolist()
        assert ours == loaded.tokenizer.decode(new, skip_special_tokens=True)
    assert analyzer.last_run is not None
    assert analyzer.last_run.visual_tokens == analyzer.last_run.visual_tokens_before_merge


@pytest.mark.parametrize("ratio", [0.5, 0.25])
@pytest.mark.parametrize("kind", [*KINDS, QWEN25])
def test_merging_shrinks_tokens_and_placeholders(
    loaded_analyzer: Factory, kind: str, ratio: float
) -> None:
    full = loaded_analyzer(kind, "fp32", 1.0)
    merged = loaded_analyzer(kind, "fp32", ratio)
    prepared = full.preprocess(_images())
    full.generate_texts(prepared, ["scene"], TIMESTAMPS, 4.0)
    texts = merged.generate_texts(prepared, ["scene"], TIMESTAMPS, 4.0)
    assert full.last_run is not None and merged.last_run is not None
    per_frame = full.last_run.visual_tokens // FRAMES
    expected = FRAMES * math.ceil(per_frame * ratio)
    assert merged.last_run.visual_tokens == expected < full.last_run.visual_tokens
    # The prompt carries exactly one placeholder per merged token.
    removed = full.last_run.visual_tokens - merged.last_run.visual_tokens
    assert merged.last_run.prompt_tokens == full.last_run.prompt_tokens - removed
    assert len(texts) == 2
