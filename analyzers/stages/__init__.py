"""Stages beside the analyzer: shots, on-screen text, speech and keyframe images."""

from analyzers.stages.loaded import Stages, StagesConfig

__all__ = ["Stages", "StagesConfig"]
