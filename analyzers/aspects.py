"""The aspect vocabulary: the aspects a job may ask about, their aliases and summary labels."""

from __future__ import annotations

from analyzers.errors import InvalidOptionError

DEFAULT_ASPECTS: tuple[str, ...] = (
    "scene",
    "people",
    "actions",
    "objects",
    "text",
    "mood",
    "style",
    "camera",
)

#: How each aspect is introduced in the summary text.
ASPECT_LABELS: dict[str, str] = {
    "scene": "Scene",
    "people": "People",
    "actions": "Actions",
    "objects": "Objects",
    "text": "On-screen text",
    "mood": "Mood",
    "style": "Visual style",
    "camera": "Camera",
}

ASPECT_ALIASES: dict[str, str] = {
    "setting": "scene",
    "place": "scene",
    "location": "scene",
    "person": "people",
    "action": "actions",
    "activity": "actions",
    "object": "objects",
    "on_screen_text": "text",
    "onscreen_text": "text",
    "ocr": "text",
    "emotion": "mood",
    "visual_style": "style",
    "lighting": "style",
    "shot": "camera",
    "shot_type": "camera",
}


def resolve_aspects(names: tuple[str, ...]) -> tuple[str, ...]:
    """Validate aspect names, map aliases to canonical names, drop repeats keeping order."""
    if not names:
        raise InvalidOptionError(
            f"at least one aspect is required; known aspects: {', '.join(DEFAULT_ASPECTS)}"
        )
    resolved: list[str] = []
    unknown: list[str] = []
    for raw in names:
        key = raw.strip().lower().replace("-", "_").replace(" ", "_")
        name = ASPECT_ALIASES.get(key, key)
        if name not in DEFAULT_ASPECTS:
            unknown.append(raw)
        elif name not in resolved:
            resolved.append(name)
    if unknown:
        # Echo only a little of what was sent: the input may be huge.
        listed = ", ".join(repr(u if len(u) <= 30 else u[:30] + "...") for u in unknown[:5])
        if len(unknown) > 5:
            listed += f" and {len(unknown) - 5} more"
        raise InvalidOptionError(
            f"unknown aspect {listed}; known aspects: {', '.join(DEFAULT_ASPECTS)}"
            f" (aliases: {', '.join(sorted(ASPECT_ALIASES))})"
        )
    return tuple(resolved)
