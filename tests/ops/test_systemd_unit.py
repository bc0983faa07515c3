"""The systemd unit: its contract, `systemd-analyze verify` as installed, its security score."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.settings import Settings
from tests.ops.conftest import REPO, SCRIPTS, need_tool, ops_env, run

pytestmark = pytest.mark.system

UNIT = REPO / "deploy" / "systemd" / "tiktok-analyzer.service"
#: the figure docs/operations.md quotes; a change that worsens it must update the docs
DOCUMENTED_EXPOSURE = 1.7


def unit_options(text: str) -> dict[str, list[str]]:
    """Section.Key -> values; systemd allows a key more than once."""
    options: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        options.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return options


def seconds(value: str) -> float:
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit]
    return total


@pytest.fixture(scope="module")
def installed_unit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """install.sh --root, using the checkout's own virtualenv so ExecStart exists here."""
    root = tmp_path_factory.mktemp("root")
    run(
        [SCRIPTS / "install.sh", "--root", root, "--venv", REPO / ".venv"],
        ops_env(),
        check=True,
    )
    return root / "etc" / "systemd" / "system" / "tiktok-analyzer.service"


def test_unit_contract() -> None:
    opts = unit_options(UNIT.read_text())
    settings = Settings()
    service = {k.split(".", 1)[1]: v for k, v in opts.items() if k.startswith("Service.")}
    assert service["Type"] == ["notify"]
    assert service["NotifyAccess"] == ["main"]
    assert service["Restart"] == ["on-failure"]
    # The service exits 78 (EX_CONFIG) on an error a restart cannot fix: no restart loop.
    assert service["RestartPreventExitStatus"] == ["78"]
    assert seconds(service["RestartSec"][0]) > 0
    assert seconds(service["WatchdogSec"][0]) > 0
    assert service["KillMode"] == ["mixed"]
    assert service["EnvironmentFile"] == ["-/etc/tiktok-analyzer/env"]
    assert service["User"] == ["@USER@"]
    assert opts["Unit.StartLimitBurst"] and seconds(opts["Unit.StartLimitIntervalSec"][0]) > 0
    # Model loading and the drain must fit inside systemd's own limits.
    assert seconds(service["TimeoutStartSec"][0]) > settings.worker_start_timeout_s
    assert seconds(service["TimeoutStopSec"][0]) > settings.drain_timeout_s
    # /dev/nvidia* must stay reachable and PyTorch needs W+X memory.
    for forbidden in ("PrivateDevices", "MemoryDenyWriteExecute", "DevicePolicy", "DeviceAllow"):
        assert forbidden not in service, forbidden
    assert service["ProtectSystem"] == ["strict"]
    assert service["ReadWritePaths"] == ["@PREFIX@/data @PREFIX@/logs"]


def test_verify_passes_on_installed_unit(installed_unit: Path) -> None:
    tool = need_tool("systemd-analyze")
    text = installed_unit.read_text()
    assert not re.search(r"@[A-Z_]+@", text), "a placeholder was left"
    assert f"ExecStart={REPO}/.venv/bin/tiktok-analyzer serve" in text
    proc = run([tool, "verify", installed_unit], ops_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # verify also reports problems it does not fail on; there must be none about our unit.
    assert "tiktok-analyzer.service" not in proc.stdout + proc.stderr


def test_security_exposure_is_as_documented(installed_unit: Path) -> None:
    tool = need_tool("systemd-analyze")
    proc = run([tool, "security", "--offline=true", installed_unit], ops_env())
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout + proc.stderr)
    assert match, proc.stdout + proc.stderr
    exposure = float(match.group(1))
    assert exposure <= DOCUMENTED_EXPOSURE, f"exposure {exposure} is worse than documented"
    assert f"{DOCUMENTED_EXPOSURE}" in (REPO / "docs" / "operations.md").read_text()
