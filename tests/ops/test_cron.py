"""deploy/cron/tiktok-analyzer: Debian's /etc/cron.d rules and the schedules the issue asks for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.ops.conftest import REPO

CRON = REPO / "deploy" / "cron" / "tiktok-analyzer"
RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
NAMES = {
    3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
}
ENV_LINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")


def valid_field(field: str, index: int) -> bool:
    lo, hi = RANGES[index]
    for part in field.split(","):
        body, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if body == "*":
            continue
        if body.lower() in NAMES.get(index, []) and not step:
            continue
        bounds = body.split("-")
        if len(bounds) > 2 or not all(b.isdigit() and lo <= int(b) <= hi for b in bounds):
            return False
    return True


def jobs() -> list[tuple[list[str], str, str]]:
    out = []
    for raw in CRON.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ENV_LINE.match(line):
            continue
        parts = line.split(None, 6)
        assert len(parts) == 7, f"needs 5 time fields, a user and a command: {line!r}"
        out.append((parts[:5], parts[5], parts[6]))
    return out


def rendered(command: str) -> str:
    return command.replace("@PREFIX@", str(REPO)).replace("@VENV@", str(REPO / ".venv"))


def test_file_name_and_format_follow_debian_rules() -> None:
    # run-parts naming: letters, digits, underscores and hyphens only (no dots).
    assert re.fullmatch(r"[A-Za-z0-9_-]+", CRON.name)
    text = CRON.read_text()
    assert text.endswith("\n"), "cron ignores a last line without a newline"
    assert "PATH=" in text and "SHELL=/bin/sh" in text


def test_every_job_parses_and_is_locked() -> None:
    found = jobs()
    assert len(found) == 5
    for fields, user, command in found:
        for i, field in enumerate(fields):
            assert valid_field(field, i), f"bad time field {field!r} in {command}"
        assert user in ("root", "@USER@")
        # -o: the lock must not be inherited by a server the job starts.
        assert command.startswith("flock -n -o /run/lock/tiktok-analyzer-"), command
        assert "%" not in command, "cron turns % into a newline"
    locks = [command.split()[3] for _, _, command in found]
    assert len(set(locks)) == len(locks), "each job needs its own lock"


def test_every_command_names_an_existing_script() -> None:
    for _, _, command in jobs():
        words = rendered(command).split()
        targets = [Path(w) for w in words[4:] if w.startswith(str(REPO))]
        assert targets, command
        for target in targets:
            assert target.exists(), f"{target} does not exist"
        script = next(t for t in targets if t.suffix in (".py", ".sh"))
        assert script.stat().st_mode & 0o111 or words[4].endswith("python"), script


@pytest.mark.parametrize(
    ("script", "schedule"),
    [
        ("monitoring/system_monitor.py", "*/5 * * * *"),
        ("scripts/health_check.sh", "*/10 * * * *"),
        ("scripts/rotate_logs.sh", "0 2 * * *"),
        ("scripts/gpu_cleanup.py", "hourly"),
        ("scripts/backup.py", "weekly"),
    ],
)
def test_schedules(script: str, schedule: str) -> None:
    matching = [fields for fields, _, command in jobs() if f"@PREFIX@/{script}" in command]
    assert len(matching) == 1, script
    minute, hour, dom, month, dow = matching[0]
    if schedule == "hourly":
        assert minute.isdigit() and (hour, dom, month, dow) == ("*", "*", "*", "*")
    elif schedule == "weekly":
        assert minute.isdigit() and hour.isdigit() and (dom, month) == ("*", "*")
        assert dow.isdigit() or dow.lower() in NAMES[4]
    else:
        assert " ".join(matching[0]) == schedule
