"""A linked video's ``source`` (its page's caption, hashtags, creator, sound) as report lines."""

from __future__ import annotations

from collections.abc import Callable

from analyzers.schema import Source


def source_facts(source: Source) -> list[tuple[str, str]]:
    """(label, text) for each thing the page told; absent ones are left out."""
    facts = [
        ("Link", source.url),
        ("Site", source.site),
        ("Title", source.title),
        ("Caption", source.description),
        ("Hashtags", " ".join(f"#{t}" for t in source.hashtags or []) or None),
        ("Creator", source.uploader),
        ("Posted", source.upload_date),
    ]
    if source.music is not None:
        music = " - ".join(p for p in (source.music.title, source.music.artist) if p)
        facts.append(("Sound", music))
    counts = [
        f"{n} {what}"
        for n, what in (
            (source.view_count, "views"),
            (source.like_count, "likes"),
            (source.comment_count, "comments"),
        )
        if n is not None
    ]
    facts.append(("Counts", ", ".join(counts) or None))
    return [(label, text) for label, text in facts if text]


def markdown_source(source: Source | None, escape: Callable[[str], str]) -> list[str]:
    """The report's "Source" section; nothing for an upload."""
    if source is None:
        return []
    lines = ["## Source", ""]
    lines += [f"- **{label}:** {escape(text)}" for label, text in source_facts(source)]
    return [*lines, ""]
