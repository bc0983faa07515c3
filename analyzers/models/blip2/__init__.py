"""The ``blip2`` analyzer: BLIP-2 OPT, its wording, loading and batched generation."""
