"""The shell scripts: syntax, shellcheck when installed, usage on -h."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.ops.conftest import SCRIPTS, ops_env, run

SHELL_SCRIPTS = sorted(SCRIPTS.glob("*.sh"))


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_syntax_and_shellcheck(script: object) -> None:
    assert run(["bash", "-n", str(script)], ops_env()).returncode == 0
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    proc = run([shellcheck, "-x", "-P", str(SCRIPTS), str(script)], ops_env())
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize(
    "name", ["install.sh", "restart_services.sh", "health_check.sh", "rotate_logs.sh"]
)
def test_usage_on_h(name: str) -> None:
    proc = run([SCRIPTS / name, "-h"], ops_env())
    assert proc.returncode == 0 and proc.stdout.startswith("usage:"), proc.stdout + proc.stderr


def test_health_check_exit_codes_are_documented() -> None:
    """Every exit code health_check.sh defines is in its usage and in docs/operations.md."""
    script = (SCRIPTS / "health_check.sh").read_text()
    codes = {int(c) for c in re.findall(r"\bEXIT_[A-Z_]+=(\d+)", script)}
    assert {0, 9, 64} <= codes, codes
    usage = run([SCRIPTS / "health_check.sh", "-h"], ops_env()).stdout
    docs = (SCRIPTS.parent / "docs" / "operations.md").read_text()
    # only the health check's own table: other scripts' tables use the same numbers
    docs = docs[docs.index("### The health check") :]
    docs = docs[: docs.index("\n## ")]
    for code in codes:
        assert re.search(rf"(^|\s){code} \S", usage.split("exit codes:")[1], re.M), code
        assert f"\n| {code} | " in docs, f"exit code {code} missing from docs/operations.md"
