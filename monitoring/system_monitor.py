#!/usr/bin/env python3
"""One snapshot of the machine (CPU, memory, disk, load, GPUs) and the tiktok-analyzer service."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# Runs as a plain script (python3 monitoring/system_monitor.py), so the checkout must be on
# the path for the package import below; only the stdlib is required, psutil/pynvml are not.
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from monitoring.gpu import GpuInfo, NoGpuError, read_gpus  # noqa: E402

try:
    import psutil

    HAVE_PSUTIL = True
except ImportError:  # the system python3 often lacks it: read /proc instead
    HAVE_PSUTIL = False

ENV_PREFIX = "TIKTOK_ANALYZER_"
GIB = 1024**3

# name -> (default, help); each is a flag --max-NAME and TIKTOK_ANALYZER_MONITOR_MAX_NAME.
THRESHOLDS: dict[str, tuple[float, str]] = {
    "cpu": (95.0, "CPU use, percent"),
    "memory": (90.0, "memory use, percent"),
    "disk": (90.0, "use of the disks holding data/, logs/ and /, percent"),
    "load": (2.0, "1-minute load average per CPU"),
    "gpu_temp": (85.0, "GPU temperature, Celsius"),
    "gpu_memory": (95.0, "GPU memory use, percent"),
    "queue": (48.0, "jobs waiting in the service's queue"),
    "restarts": (5.0, "worker restarts since the service started"),
}


def read_env_file(path: Path) -> dict[str, str]:
    """TIKTOK_ANALYZER_* lines of a systemd-style env file; nothing if unreadable."""
    values: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return values
    for raw in lines:
        line = raw.strip().removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if sep and key.startswith(ENV_PREFIX):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            values[key] = value
    return values


def settings_env() -> dict[str, str]:
    """The environment over the service's env file, as the service itself sees it."""
    env_file = Path(os.environ.get(f"{ENV_PREFIX}ENV_FILE", "/etc/tiktok-analyzer/env"))
    merged = read_env_file(env_file)
    merged.update({k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)})
    return merged


def in_checkout(value: str) -> Path:
    """Relative settings are relative to the checkout, as for the service."""
    path = Path(value)
    return path if path.is_absolute() else REPO / path


def service_url(env: dict[str, str]) -> str:
    host = env.get(f"{ENV_PREFIX}HOST", "127.0.0.1")
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, host)
    return f"http://{host}:{env.get(f'{ENV_PREFIX}PORT', '8003')}"


# --- machine --------------------------------------------------------------------------


def _proc_cpu_times() -> tuple[int, int]:
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), idle


def read_cpu(interval: float) -> dict[str, Any]:
    count = os.cpu_count() or 1
    if HAVE_PSUTIL:
        return {"percent": psutil.cpu_percent(interval=interval), "count": count}
    total0, idle0 = _proc_cpu_times()
    time.sleep(interval)
    total1, idle1 = _proc_cpu_times()
    busy = (total1 - total0) - (idle1 - idle0)
    percent = 100.0 * busy / (total1 - total0) if total1 > total0 else 0.0
    return {"percent": round(percent, 1), "count": count}


def read_memory() -> dict[str, Any]:
    if HAVE_PSUTIL:
        vm = psutil.virtual_memory()
        total, available = int(vm.total), int(vm.available)
    else:
        info: dict[str, int] = {}
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                key, _, rest = line.partition(":")
                info[key] = int(rest.split()[0]) * 1024
        total, available = info["MemTotal"], info.get("MemAvailable", info["MemFree"])
    used = 100.0 * (total - available) / total if total else 0.0
    return {"total_bytes": total, "available_bytes": available, "used_percent": round(used, 1)}


def read_load() -> dict[str, float]:
    one, five, fifteen = os.getloadavg()
    return {
        "1m": round(one, 2),
        "5m": round(five, 2),
        "15m": round(fifteen, 2),
        "per_cpu_1m": round(one / (os.cpu_count() or 1), 2),
    }


def read_disks(paths: list[Path]) -> list[dict[str, Any]]:
    """One entry per filesystem holding one of paths (the nearest existing parent)."""
    seen: set[int] = set()
    disks: list[dict[str, Any]] = []
    for path in paths:
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        dev = existing.stat().st_dev
        if dev in seen:
            continue
        seen.add(dev)
        usage = shutil.disk_usage(existing)
        disks.append(
            {
                "path": str(path),
                "total_bytes": usage.total,
                "free_bytes": usage.free,
                "used_percent": round(100.0 * usage.used / usage.total, 1) if usage.total else 0,
            }
        )
    return disks


def read_gpu_section() -> tuple[list[dict[str, Any]], str]:
    try:
        gpus: list[GpuInfo] = read_gpus()
    except NoGpuError as err:
        return [], str(err)
    out = []
    for gpu in gpus:
        doc = asdict(gpu)
        doc["memory_used_percent"] = gpu.memory_used_percent
        out.append(doc)
    return out, "ok"


# --- service --------------------------------------------------------------------------


def read_service(url: str, timeout: float, api_key: str | None = None) -> dict[str, Any]:
    """The service's /health, whatever its HTTP status (503 carries the same JSON)."""
    section: dict[str, Any] = {"url": url, "reachable": False}
    request = urllib.request.Request(f"{url}/health")
    if api_key:
        request.add_header("X-API-Key", api_key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            code, body = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        code, body = err.code, err.read()
    except (OSError, ValueError) as err:
        section["error"] = str(getattr(err, "reason", err))
        return section
    section.update(reachable=True, http_status=code)
    try:
        health = json.loads(body)
    except ValueError:
        health = None
    if not isinstance(health, dict) or "status" not in health:
        # 401 without the API key, or something else listening on the port.
        error = health.get("error") if isinstance(health, dict) else None
        message = error.get("message") if isinstance(error, dict) else "unexpected /health body"
        section["error"] = f"HTTP {code}: {message}"
        return section
    workers = [
        {
            k: w.get(k)
            for k in ("id", "state", "device", "pid", "current_job", "restarts")
            + ("last_heartbeat_age_s",)
        }
        for w in health.get("workers") or []
    ]
    section.update(
        status=health.get("status"),
        ready=bool(health.get("ready")),
        reason=health.get("reason"),
        queue_depth=health.get("queue_depth"),
        busy_workers=health.get("busy_workers"),
        workers=workers,
        restarts_total=sum(int(w.get("restarts") or 0) for w in workers),
        jobs=health.get("jobs"),
        model=health.get("model"),
        uptime_s=health.get("uptime_s"),
        version=health.get("version"),
    )
    return section


# --- thresholds -----------------------------------------------------------------------


def machine_warnings(snap: dict[str, Any], limits: dict[str, float]) -> list[str]:
    warnings = []
    if snap["cpu"]["percent"] > limits["cpu"]:
        warnings.append(f"CPU at {snap['cpu']['percent']}% (limit {limits['cpu']}%)")
    if snap["memory"]["used_percent"] > limits["memory"]:
        warnings.append(f"memory at {snap['memory']['used_percent']}% (limit {limits['memory']}%)")
    if snap["load"]["per_cpu_1m"] > limits["load"]:
        warnings.append(f"load {snap['load']['per_cpu_1m']} per CPU (limit {limits['load']})")
    warnings += [
        f"disk of {d['path']} at {d['used_percent']}% (limit {limits['disk']}%)"
        for d in snap["disks"]
        if d["used_percent"] > limits["disk"]
    ]
    for gpu in snap["gpus"]:
        temp, mem = gpu["temperature_c"], gpu["memory_used_percent"]
        if temp is not None and temp > limits["gpu_temp"]:
            warnings.append(f"GPU {gpu['index']} at {temp} C (limit {limits['gpu_temp']} C)")
        if mem is not None and mem > limits["gpu_memory"]:
            warnings.append(
                f"GPU {gpu['index']} memory at {mem:.1f}% (limit {limits['gpu_memory']}%)"
            )
    return warnings


def service_warnings(service: dict[str, Any], limits: dict[str, float]) -> list[str]:
    if not service.get("reachable"):
        return [f"service unreachable at {service['url']}: {service.get('error')}"]
    if "status" not in service:
        return [f"service at {service['url']} answered {service.get('error')}"]
    warnings = []
    if not service["ready"]:
        warnings.append(f"service {service['status']}: {service.get('reason') or 'not ready'}")
    if (service.get("queue_depth") or 0) > limits["queue"]:
        warnings.append(f"queue depth {service['queue_depth']} (limit {limits['queue']:g})")
    if service["restarts_total"] > limits["restarts"]:
        warnings.append(
            f"{service['restarts_total']} worker restarts (limit {limits['restarts']:g})"
        )
    warnings += [
        f"worker {w['id']} in state {w['state']}"
        for w in service["workers"]
        if w["state"] in ("ERROR", "STOPPED")
    ]
    return warnings


# --- output ---------------------------------------------------------------------------


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / GIB:.1f}"


def _num(value: Any, unit: str = "") -> str:
    return "?" if value is None else f"{value:g}{unit}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _gpu_lines(snap: dict[str, Any]) -> list[str]:
    if not snap["gpus"]:
        return [f"GPU      {snap['gpu_status']}"]
    lines = []
    for g in snap["gpus"]:
        pct = g["memory_used_percent"]
        lines.append(
            f"GPU {g['index']:<4} {g['name']}  util {_num(g['utilization_percent'], ' %')}  "
            f"mem {_gib(g['memory_used_bytes'])}/{_gib(g['memory_total_bytes'])} GiB"
            f" ({'?' if pct is None else f'{pct:.0f}'} %)  {_num(g['temperature_c'], ' C')}  "
            f"{_num(g['power_w'], ' W')} of {_num(g['power_limit_w'], ' W')}"
        )
        lines += [
            f"           pid {p['pid']:<8} {_gib(p['used_memory_bytes'])} GiB"
            for p in g["processes"]
        ]
    return lines


def _service_lines(svc: dict[str, Any]) -> list[str]:
    if "status" not in svc:
        what = "answered" if svc["reachable"] else "unreachable:"
        return [f"Service  {svc['url']}  {what} {svc.get('error')}"]
    model = svc.get("model") or {}
    lines = [
        f"Service  {svc['url']}  {svc['status']}"
        f"{'' if svc['ready'] else ' (' + str(svc.get('reason') or 'not ready') + ')'}"
        f"  queue {svc.get('queue_depth')}  busy {svc.get('busy_workers')}/{len(svc['workers'])}"
        f"  restarts {svc['restarts_total']}  uptime {_duration(svc.get('uptime_s'))}"
        f"  model {model.get('name')} ({model.get('quantization')})"
    ]
    lines += [
        f"  worker {w['id']}  {w['state']:<10} {w['device']}  pid {w['pid']}"
        f"  restarts {w['restarts']}  heartbeat {_num(w['last_heartbeat_age_s'], ' s')} ago"
        f"{'  job ' + str(w['current_job']) if w['current_job'] else ''}"
        for w in svc["workers"]
    ]
    return lines


def render_table(snap: dict[str, Any]) -> str:
    cpu, mem, load = snap["cpu"], snap["memory"], snap["load"]
    lines = [
        f"tiktok-analyzer snapshot  {snap['timestamp']}  {snap['host']}",
        f"CPU      {cpu['percent']:5.1f} %  ({cpu['count']} CPUs)  "
        f"load {load['1m']} {load['5m']} {load['15m']}",
        f"Memory   {mem['used_percent']:5.1f} %  {_gib(mem['available_bytes'])} GiB available"
        f" of {_gib(mem['total_bytes'])} GiB",
    ]
    lines += [
        f"Disk     {d['used_percent']:5.1f} %  {_gib(d['free_bytes'])} GiB free of "
        f"{_gib(d['total_bytes'])} GiB  ({d['path']})"
        for d in snap["disks"]
    ]
    lines += _gpu_lines(snap)
    if snap["service"] is not None:
        lines += _service_lines(snap["service"])
    lines.append("Warnings" + ("" if snap["warnings"] else " none"))
    lines += [f"  - {w}" for w in snap["warnings"]]
    return "\n".join(lines)


# --- entry point ----------------------------------------------------------------------


def parse_args(argv: list[str] | None, env: dict[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="Exit code: 0 all within thresholds, 1 warnings, 2 usage error.",
    )
    parser.add_argument("--json", action="store_true", help="print the snapshot as JSON")
    parser.add_argument("--url", help="service base URL [from TIKTOK_ANALYZER_HOST/PORT]")
    parser.add_argument("--no-service", action="store_true", help="skip the service check")
    parser.add_argument("--timeout", type=float, default=5.0, help="HTTP timeout, seconds")
    parser.add_argument("--interval", type=float, default=0.5, help="CPU sampling, seconds")
    parser.add_argument("--log-dir", type=Path, help="[TIKTOK_ANALYZER_LOG_DIR, logs/]")
    parser.add_argument("--no-log", action="store_true", help="do not append to the JSONL log")
    for name, (default, text) in THRESHOLDS.items():
        env_name = f"{ENV_PREFIX}MONITOR_MAX_{name.upper()}"
        parser.add_argument(
            f"--max-{name.replace('_', '-')}",
            dest=f"max_{name}",
            type=float,
            default=float(env.get(env_name, default)),
            help=f"warn above this {text} [{env_name}, default {default:g}]",
        )
    return parser.parse_args(argv)


def snapshot(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    data_dir = in_checkout(env.get(f"{ENV_PREFIX}DATA_DIR", "data"))
    log_dir = args.log_dir or in_checkout(env.get(f"{ENV_PREFIX}LOG_DIR", "logs"))
    gpus, gpu_status = read_gpu_section()
    snap: dict[str, Any] = {
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": socket.gethostname(),
        "cpu": read_cpu(args.interval),
        "load": read_load(),
        "memory": read_memory(),
        "disks": read_disks([data_dir, log_dir, Path("/")]),
        "gpus": gpus,
        "gpu_status": gpu_status,
        "service": None
        if args.no_service
        else read_service(
            args.url or service_url(env), args.timeout, env.get(f"{ENV_PREFIX}API_KEY")
        ),
    }
    limits = {name: getattr(args, f"max_{name}") for name in THRESHOLDS}
    warnings = machine_warnings(snap, limits)
    if snap["service"] is not None:
        warnings += service_warnings(snap["service"], limits)
    snap["warnings"] = warnings
    snap["ok"] = not warnings
    return snap


def append_jsonl(log_dir: Path, snap: dict[str, Any]) -> None:
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / "system_monitor.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(snap, separators=(",", ":")) + "\n")
    except OSError as err:  # a full or read-only disk must not hide the snapshot itself
        print(f"system_monitor: cannot append to {log_dir}: {err}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    env = settings_env()
    args = parse_args(argv, env)
    snap = snapshot(args, env)
    if not args.no_log:
        append_jsonl(args.log_dir or in_checkout(env.get(f"{ENV_PREFIX}LOG_DIR", "logs")), snap)
    print(json.dumps(snap, indent=2) if args.json else render_table(snap))
    for warning in snap["warnings"]:
        print(f"system_monitor: warning: {warning}", file=sys.stderr)
    return 0 if snap["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
