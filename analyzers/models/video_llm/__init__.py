"""The ``video-llm`` analyzer: Qwen2-VL/Qwen2.5-VL, LLaVA-OneVision and LLaVA (AuroraCap).

Modules by role: ``loading`` (settings to a loaded model), ``families`` (per-family
pixels, visual tokens and placeholders), ``merging`` (ToMe token merging),
``prompting`` (what is asked), ``generation`` (prompts through generate),
``parsing`` (lenient reading of the answers), ``analyzer`` (the Analyzer).
"""
