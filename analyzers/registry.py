"""Analyzers by name: each entry says where its class lives, imported only when asked for.

Keeping module paths as strings (not classes) means this module imports no
analyzer, so ``analyzers.base`` and the analyzers never import each other in a
circle, and ``--help`` does not pay for importing transformers.
"""

from __future__ import annotations

import importlib

from analyzers.base import Analyzer, AnalyzerConfig
from analyzers.errors import InvalidOptionError

#: name -> "module:Class"; add a line here to make an analyzer available by setting
ANALYZERS: dict[str, str] = {
    "blip2": "analyzers.blip2:Blip2Analyzer",
    "video-llm": "analyzers.video_llm.analyzer:VideoLLMAnalyzer",
}


def analyzer_class(name: str) -> type[Analyzer]:
    """The class registered as ``name``; InvalidOptionError naming the known ones otherwise."""
    try:
        target = ANALYZERS[name]
    except KeyError:
        known = ", ".join(sorted(ANALYZERS))
        raise InvalidOptionError(f"unknown analyzer {name!r}; known analyzers: {known}") from None
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Analyzer)):
        raise TypeError(f"{target} is not an Analyzer")
    return cls


def create_analyzer(name: str, config: AnalyzerConfig) -> Analyzer:
    """Build (but do not load) the analyzer registered as ``name``."""
    return analyzer_class(name)(config)
