"""The README is the front door: it must name every setting the code reads."""

from __future__ import annotations

import re
from pathlib import Path

from api.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_documented() -> None:
    text = README.read_text()
    documented = set(re.findall(r"TIKTOK_ANALYZER_([A-Z0-9_]+)", text))
    # "`_HEARTBEAT_TIMEOUT_S`" style shorthands in the same cell count as documented.
    documented |= set(re.findall(r"`_([A-Z0-9_]+)`", text))
    missing = {name.upper() for name in Settings.model_fields} - documented
    assert not missing, f"settings missing from README.md: {sorted(missing)}"


def test_readme_shows_the_two_setup_commands() -> None:
    text = README.read_text()
    assert "make run" in text and "make test" in text


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_error_code_is_in_the_readme_table() -> None:
    import api.errors  # noqa: F401 - registers the serving errors as subclasses
    from analyzers.errors import AnalyzerError
    from api.http.errors import STATUS_BY_CODE

    text = README.read_text()
    table = text[text.index("| status | code | when |") :]
    table = table[: table.index("\n\n")]
    documented = set(re.findall(r"`([a-z_]+)`", table))
    emitted = set(STATUS_BY_CODE) | {c.code for c in _subclasses(AnalyzerError)}
    emitted |= {"unauthorized", "internal_error", "upload_missing", "analyzer_error"}
    emitted |= {"not_found", "method_not_allowed", "http_error"}  # api/http/app.py's fallback
    emitted -= {"job_failed"}  # an abstract base, never sent
    assert emitted - documented == set()
