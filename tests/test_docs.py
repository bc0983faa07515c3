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
