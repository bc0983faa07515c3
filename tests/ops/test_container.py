"""The image built for real with podman and run with the tiny model; compose.yaml's syntax.

The build uses CPU torch from the local wheel folder and keeps its layers in podman's
storage, so a rerun rebuilds only what changed (the project's layer after a code change).
A cold run (a fresh machine) makes the base with debootstrap (about 3 min) and downloads the
dependencies once (build about 19 min on 2 busy cores); a warm run takes about 70 s.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml

from api.settings import Settings
from tests.ops.conftest import REPO, free_port, need_tool, wait_for
from tests.support.compose_schema import SCHEMA
from tests.support.podman import CACHE, CannotRun, Podman, base_image, build, podman
from tests.support.wheelhouse import wheelhouse

pytestmark = pytest.mark.system

IMAGE = "localhost/tiktok-analyzer:test"
#: the CPU build on this disk; compose.yaml's build leaves the Dockerfile's default ("torch")
TORCH_SPEC = "torch==2.13.0"
#: the container's drain time; `podman stop` waits longer before it would SIGKILL
DRAIN_S = 10
STOP_WAIT_S = 30
SETTINGS = {
    "TIKTOK_ANALYZER_MODEL": "/models/tiny",
    "TIKTOK_ANALYZER_QUANTIZATION": "fp32",
    "TIKTOK_ANALYZER_DEVICE": "cpu",
    "TIKTOK_ANALYZER_WORKERS": "1",
    # Tesseract on the frames: the image's OCR data is used for real (rapidocr would load
    # its ONNX models for seconds more); speech off: no Whisper weights inside
    "TIKTOK_ANALYZER_OCR_ENGINE": "tesseract",
    "TIKTOK_ANALYZER_TRANSCRIBE": "false",
    "TIKTOK_ANALYZER_DRAIN_TIMEOUT_S": str(DRAIN_S),
    "HF_HUB_OFFLINE": "1",
}


def makefile_list(name: str) -> list[str]:
    """A `NAME := a b \\ c` list of the Makefile."""
    text = (REPO / "Makefile").read_text()
    match = re.search(rf"^{name}\s*:?=\s*((?:.*\\\n)*.*)$", text, re.M)
    assert match, f"Makefile has no {name}"
    return match.group(1).replace("\\\n", " ").split()


def test_the_image_has_the_stage_packages() -> None:
    """Whatever the stages need from Debian on a dev box, the image installs too."""
    dockerfile = (REPO / "Dockerfile").read_text()
    missing = [p for p in makefile_list("STAGE_PACKAGES") if not re.search(rf"\b{p}\b", dockerfile)]
    assert not missing, f"Dockerfile lacks the Makefile's STAGE_PACKAGES {missing}"


def test_compose_file_is_valid() -> None:
    """compose.yaml against the Compose schema's subset it uses, and what each service needs."""
    doc = yaml.safe_load((REPO / "compose.yaml").read_text())  # resolves the x- anchors
    jsonschema.validate(doc, SCHEMA)
    services = doc["services"]
    assert set(services) == {"tiktok-analyzer", "ray-head", "ray-worker"}
    declared = set(doc["volumes"])
    for name, service in services.items():
        env_file = REPO / service["env_file"]
        assert env_file.with_name(env_file.name + ".example").is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source.startswith((".", "/")) or source in declared, (name, volume)
    for name in ("tiktok-analyzer", "ray-worker"):
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    front = services["tiktok-analyzer"]
    assert "profiles" not in front and front["restart"] == "unless-stopped"
    assert all(p.startswith("127.0.0.1:") for p in front["ports"]), front["ports"]
    assert services["ray-head"]["profiles"] == services["ray-worker"]["profiles"] == ["ray"]
    assert front["build"]["args"]["EXTRAS"] == "ray"
    # the drain must fit in the stop grace period
    assert int(front["stop_grace_period"].rstrip("s")) > Settings().drain_timeout_s


def test_env_example_names_real_settings() -> None:
    example = REPO / "deploy" / "container" / "tiktok-analyzer.env.example"
    names = re.findall(r"^#?TIKTOK_ANALYZER_([A-Z0-9_]+)=", example.read_text(), re.M)
    unknown = {n.lower() for n in names} - set(Settings.model_fields)
    assert names and not unknown, unknown
    assert {"ALLOWED_HOSTS", "PUBLIC_URL"} <= set(names)


@pytest.fixture(scope="module")
def pm() -> Podman:
    need_tool("debootstrap")
    try:
        return podman()
    except CannotRun as exc:
        pytest.skip(f"podman cannot run here: {exc}")


@pytest.fixture(scope="module")
def image(pm: Podman, tmp_path_factory: pytest.TempPathFactory) -> str:
    work = tmp_path_factory.mktemp("image")
    try:
        base = base_image(pm, work / "debootstrap.log")
    except CannotRun as exc:
        pytest.skip(f"cannot make the base image: {exc}")
    started = time.monotonic()
    # The declared dependencies' wheels, shared with the real-systemd test's install: pip in
    # the build finds every wheel there and downloads nothing.
    wheels = wheelhouse(CACHE, REPO / "pyproject.toml", TORCH_SPEC, work / "pip-download.log")
    args = {"BASE_IMAGE": base, "TORCH_SPEC": TORCH_SPEC}
    build(pm, REPO, IMAGE, args, wheels, work / "build.log")
    # -s shows it: a cold build (fresh machine) against a warm one (layers cached)
    print(f"podman build took {time.monotonic() - started:.0f} s")
    return IMAGE


@pytest.fixture(scope="module")
def served(
    pm: Podman, image: str, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """The image running with the tiny model read-only; yields (container name, base URL)."""
    # The service user inside must read the weights: a copy readable by all.
    model = tmp_path_factory.mktemp("model") / "tiny"
    shutil.copytree(tiny_model_dir, model)
    for path in [model, *model.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    name = f"tiktok-analyzer-test-{free_port()}"
    port = free_port()
    env = [f"--env={k}={v}" for k, v in SETTINGS.items()]
    pm.run(
        "run", "--detach", "--pull=never", "--name", name,
        "--publish", f"127.0.0.1:{port}:8003",
        "--volume", f"{model}:/models/tiny:ro",
        *env, image,
        timeout=120, check=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: health(url)[0] == 200, 240, "the container's /health to be ready")
        yield name, url
    finally:
        # the service logs to stderr, which `podman logs` passes on as its own stderr
        logs = pm.run("logs", "--tail", "40", name)
        print(f"container log (tail):\n{logs.stdout}{logs.stderr}")
        pm.remove_container(name)


def health(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except OSError:
        return 0, {}


def post_video(url: str, video: Path) -> dict[str, object]:
    """POST /analyze as a multipart form with the file and two frames; waits for the result."""
    boundary = "tiktok-analyzer-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="frames"\r\n\r\n2\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="clip.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        + video.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{url}/analyze",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=180) as reply:
        doc: dict[str, object] = json.loads(reply.read())
    return doc


def test_serves_an_analysis_as_a_user_and_stops_cleanly(
    pm: Podman, served: tuple[str, str], short_video: Path
) -> None:
    name, url = served
    code, doc = health(url)
    assert code == 200 and doc["status"] == "ready", doc

    reply = post_video(url, short_video)
    assert reply["status"] == "done", reply
    result = reply["result"]
    assert isinstance(result, dict)
    assert len(result["frames"]) == 2, result["frames"]
    assert result["text_overlays"] is not None, f"OCR did not run: {result['warnings']}"

    # The service (tini's child: tini is PID 1 inside) runs as the image's user, not root.
    assert pm.run("exec", name, "id", "-u", check=True).stdout.strip() != "0"
    init = pm.run("inspect", "--format", "{{.State.Pid}}", name, check=True).stdout.strip()
    service = Path(f"/proc/{init}/task/{init}/children").read_text().split()[0]
    status = Path(f"/proc/{service}/status").read_text()
    assert "tiktok-analyzer" in Path(f"/proc/{service}/cmdline").read_text()
    uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)", status, re.M)
    assert uids and uids.groups() != ("0", "0") and "0" not in uids.groups(), status
    health_cmd = pm.run("inspect", "--format", "{{json .Config.Healthcheck}}", name).stdout
    assert "/health/live" in health_cmd, health_cmd

    started = time.monotonic()
    pm.run("stop", "--time", str(STOP_WAIT_S), name, timeout=STOP_WAIT_S + 30, check=True)
    took = time.monotonic() - started
    state = pm.run("inspect", "--format", "{{.State.ExitCode}}", name, check=True).stdout.strip()
    assert state == "0", f"exit code {state} after podman stop"
    assert took < DRAIN_S + 5, f"podman stop took {took:.0f} s (drain {DRAIN_S} s)"
