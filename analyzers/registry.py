"""Analyzers by name: each entry says where its class lives, imported only when asked for.

Keeping module paths as strings (not classes) means this module imports no
analyzer, so ``analyzers.base`` and the analyzers never import each other in a
circle, ``--help`` does not pay for importing transformers, and the product imports
``analyzers.testing`` (test analyzers, ``make-test-model``'s builders) only when asked.
"""

from __future__ import annotations

import importlib

from analyzers.base import Analyzer, AnalyzerConfig
from analyzers.errors import InvalidOptionError

#: name -> "module:Class"; add a line here to make an analyzer available by setting
ANALYZERS: dict[str, str] = {
    "blip2": "analyzers.models.blip2.analyzer:Blip2Analyzer",
    "video-llm": "analyzers.models.video_llm.analyzer:VideoLLMAnalyzer",
}

#: analyzers for the serving tests only, found by name like the others but never listed
TEST_ANALYZERS: dict[str, str] = {
    # BLIP-2 that hangs in the model call, as a stuck GPU call would
    "blip2-hanging": "analyzers.testing.hanging:HangingBlip2Analyzer",
}

#: ``make-test-model --kind KIND`` -> "module:function(out_dir) -> Path"; one line per model family
TEST_MODEL_KINDS: dict[str, str] = {
    "blip2": "analyzers.testing.tiny_model:make_test_model",
    "qwen2-vl": "analyzers.testing.tiny_video_models:make_qwen2_vl",
    "llava-onevision": "analyzers.testing.tiny_video_models:make_llava_onevision",
    "llava": "analyzers.testing.tiny_video_models:make_llava",
}


def analyzer_class(name: str) -> type[Analyzer]:
    """The class registered as ``name``; InvalidOptionError naming the known ones otherwise."""
    target = ANALYZERS.get(name) or TEST_ANALYZERS.get(name)
    if target is None:
        known = ", ".join(sorted(ANALYZERS))
        raise InvalidOptionError(f"unknown analyzer {name!r}; known analyzers: {known}")
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Analyzer)):
        raise TypeError(f"{target} is not an Analyzer")
    return cls


def create_analyzer(name: str, config: AnalyzerConfig) -> Analyzer:
    """Build (but do not load) the analyzer registered as ``name``."""
    return analyzer_class(name)(config)
