"""monitoring/system_monitor.py: JSON shape, thresholds, the JSONL log, a real service."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.ops.conftest import REPO, VENV_PYTHON, LiveService, free_port, ops_env, run

MONITOR = REPO / "monitoring" / "system_monitor.py"
NUM = (int, float)
SHAPE: dict[str, Any] = {
    "timestamp": str,
    "host": str,
    "cpu": {"percent": NUM, "count": int},
    "load": {"1m": NUM, "5m": NUM, "15m": NUM, "per_cpu_1m": NUM},
    "memory": {"total_bytes": int, "available_bytes": int, "used_percent": NUM},
    "disks": [{"path": str, "total_bytes": int, "free_bytes": int, "used_percent": NUM}],
    "gpus": list,
    "gpu_status": str,
    "warnings": [str],
    "ok": bool,
}
SERVICE_SHAPE: dict[str, Any] = {
    "url": str,
    "reachable": bool,
    "http_status": int,
    "status": str,
    "ready": bool,
    "queue_depth": int,
    "busy_workers": int,
    "restarts_total": int,
    "workers": [{"id": int, "state": str, "device": str, "pid": int, "restarts": int}],
    "model": {"name": str, "quantization": str},
    "uptime_s": NUM,
    "version": str,
}


def validate(doc: Any, shape: Any, where: str = "$") -> None:
    if isinstance(shape, dict):
        assert isinstance(doc, dict), where
        for key, sub in shape.items():
            assert key in doc, f"{where}.{key} missing"
            validate(doc[key], sub, f"{where}.{key}")
    elif isinstance(shape, list):
        assert isinstance(doc, list), where
        for i, item in enumerate(doc):
            validate(item, shape[0], f"{where}[{i}]")
    else:
        assert isinstance(doc, shape) and not (shape is not bool and isinstance(doc, bool)), (
            f"{where}: {doc!r} is not {shape}"
        )


def monitor(
    env: dict[str, str], *args: str, python: str | Path = VENV_PYTHON
) -> tuple[int, dict[str, Any], str]:
    proc = run([python, MONITOR, "--json", "--interval", "0.1", *args], env, timeout=60)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def test_snapshot_without_service_validates(tmp_path: Path) -> None:
    env = ops_env(TIKTOK_ANALYZER_LOG_DIR=str(tmp_path))
    code, snap, _ = monitor(env, "--no-service", "--max-cpu", "101", "--max-load", "1000")
    validate(snap, SHAPE)
    assert snap["service"] is None
    assert code == 0 and snap["ok"], snap["warnings"]
    if not snap["gpus"]:
        assert snap["gpu_status"].startswith("no NVIDIA GPU")
    logged = (tmp_path / "system_monitor.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in logged] == [snap]


def test_thresholds_turn_into_warnings_and_exit_1(tmp_path: Path) -> None:
    env = ops_env(TIKTOK_ANALYZER_MONITOR_MAX_MEMORY="0", TIKTOK_ANALYZER_LOG_DIR=str(tmp_path))
    code, snap, stderr = monitor(env, "--no-service", "--max-disk", "0")
    assert code == 1 and not snap["ok"]
    assert any(w.startswith("memory at") for w in snap["warnings"])
    assert any(w.startswith("disk of") for w in snap["warnings"])
    assert "warning: memory at" in stderr


def test_unreachable_service_is_a_warning(tmp_path: Path) -> None:
    env = ops_env(TIKTOK_ANALYZER_PORT=str(free_port()), TIKTOK_ANALYZER_LOG_DIR=str(tmp_path))
    code, snap, _ = monitor(env, "--max-cpu", "101", "--max-load", "1000")
    assert code == 1
    assert snap["service"]["reachable"] is False
    assert snap["warnings"][-1].startswith("service unreachable")


def test_human_table_with_the_system_python(tmp_path: Path) -> None:
    """Plain script, system interpreter, psutil and pynvml possibly absent: /proc fallbacks."""
    system_python = shutil.which("python3", path="/usr/bin:/bin")
    if system_python is None:
        pytest.skip("no system python3")
    env = ops_env(TIKTOK_ANALYZER_LOG_DIR=str(tmp_path))
    proc = subprocess.run(
        [system_python, str(MONITOR), "--no-service", "--interval", "0.1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert proc.returncode in (0, 1), proc.stderr
    for label in ("CPU", "Memory", "Disk", "GPU", "Warnings"):
        assert any(line.startswith(label) for line in proc.stdout.splitlines()), label
    code, snap, _ = monitor(env, "--no-service", python=system_python)
    validate(snap, SHAPE)


def test_reflects_a_real_service(live_service: LiveService, tmp_path: Path) -> None:
    env = dict(live_service.env, TIKTOK_ANALYZER_LOG_DIR=str(tmp_path))
    status, health = live_service.health()
    code, snap, _ = monitor(env, "--max-cpu", "101", "--max-load", "1000")
    validate(snap, SHAPE)
    service = snap["service"]
    validate(service, SERVICE_SHAPE, "$.service")
    assert status == 200 and service["status"] == "ready" and service["ready"] is True
    assert service["url"] == live_service.url
    assert [w["pid"] for w in service["workers"]] == [w["pid"] for w in health["workers"]]  # type: ignore[union-attr]
    assert service["model"] == health["model"]
    assert service["queue_depth"] == health["queue_depth"] == 0
    assert service["restarts_total"] == sum(w["restarts"] for w in health["workers"])  # type: ignore[union-attr]
    assert code == (0 if snap["ok"] else 1)
    table = run([VENV_PYTHON, MONITOR, "--no-log"], env, timeout=60).stdout
    assert f"Service  {live_service.url}  ready" in table
    assert "worker 0  READY" in table
