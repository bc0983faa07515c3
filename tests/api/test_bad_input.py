"""The bad-input catalogue: each refusal with its status, code and a message a person can use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from analyzers.testing.clips import (
    make_audio_only,
    make_empty_file,
    make_image_file,
    make_text_file,
    make_truncated_video,
    make_video,
)
from analyzers.testing.hostile_clips import make_giant_apng, make_many_streams
from tests.support.serverproc import ServerProcess, post_video, wait_for


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory, tiny_video: Path) -> Path:
    root = tmp_path_factory.mktemp("bad-media")
    make_empty_file(root / "empty.mp4")
    make_text_file(root / "text.mp4")
    make_image_file(root / "image.mp4")
    make_audio_only(root / "audio.mp4")
    make_video(root / "long.mp4", width=64, height=112, duration_s=25, fps=5)
    src = make_video(root / "full.mp4", width=96, height=160, duration_s=6, fps=10)
    make_truncated_video(src, root / "truncated.mp4", keep=0.15)
    make_many_streams(root / "streams.mp4", 400)
    make_many_streams(root / "streams-32.mp4", 32, frames=6)
    make_giant_apng(root / "giant.png")
    make_giant_apng(root / "wide.png", 9000, 16)
    return root


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def _error(response: httpx.Response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    for word in words:
        assert word in error["message"], error["message"]


@pytest.mark.parametrize(
    ("name", "status", "code", "words"),
    [
        ("empty.mp4", 400, "empty_file", ("empty",)),
        ("text.mp4", 415, "not_a_video", ("not a video",)),
        ("image.mp4", 415, "not_a_video", ("still image",)),
        ("audio.mp4", 422, "no_video_stream", ("no video stream", "audio")),
        ("long.mp4", 422, "video_too_long", ("25", "20")),
        ("streams.mp4", 422, "too_many_streams", ("more than 32 streams",)),
        ("giant.png", 422, "frame_too_large", ("16000x16000", "8192")),
        ("wide.png", 422, "frame_too_large", ("9000x16",)),
    ],
)
def test_bad_files_are_refused_before_queueing(
    client: httpx.Client,
    server: ServerProcess,
    media: Path,
    name: str,
    status: int,
    code: str,
    words: tuple[str, ...],
) -> None:
    _error(post_video(client, media / name), status, code, *words)
    assert list(server.uploads_dir.iterdir()) == []  # the refused upload is not kept


def test_truncated_video_fails_clearly_or_degrades(client: httpx.Client, media: Path) -> None:
    response = post_video(client, media / "truncated.mp4", frames=4)
    if response.status_code == 200:  # some frames decoded: the result must say what is missing
        assert response.json()["result"]["warnings"], response.text
    else:
        assert response.status_code in (415, 422), response.text
        error = response.json()["error"]
        assert error["code"] in {"no_decodable_frames", "not_a_video", "decode_timeout"}
        assert error["message"]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"aspects": "scene,weather"}, ("unknown aspect", "weather", "known aspects")),
        ({"aspects": " , "}, ("at least one aspect",)),
        ({"frames": "0"}, ("frames must be between 1 and 8",)),
        ({"frames": "9"}, ("frames must be between 1 and 8", "9")),
        ({"frames": "many"}, ("whole number",)),
        ({"wait": "maybe"}, ("wait must be true or false",)),
    ],
)
def test_bad_options_are_422(
    client: httpx.Client, tiny_video: Path, fields: dict[str, str], words: tuple[str, ...]
) -> None:
    _error(post_video(client, tiny_video, form=fields), 422, "invalid_option", *words)


def test_bad_query_option_is_422(client: httpx.Client, tiny_video: Path) -> None:
    response = post_video(client, tiny_video, params={"frames": "lots"})
    _error(response, 422, "invalid_option", "frames")


def test_missing_file_field_is_400(client: httpx.Client, tiny_video: Path) -> None:
    with open(tiny_video, "rb") as fh:
        response = client.post("/analyze", files={"video": ("a.mp4", fh)}, data={"frames": "1"})
    _error(response, 400, "missing_file", "'file'")


def test_not_multipart_is_415(client: httpx.Client) -> None:
    _error(client.post("/analyze", json={"file": "x"}), 415, "not_multipart", "multipart")


def test_over_the_size_cap_is_413(
    client: httpx.Client, server: ServerProcess, tmp_path: Path
) -> None:
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (3 * 1024 * 1024))
    _error(post_video(client, big), 413, "upload_too_large", "1 MB")
    assert list(server.uploads_dir.iterdir()) == []


def test_size_cap_is_enforced_while_streaming(client: httpx.Client, server: ServerProcess) -> None:
    """No Content-Length (chunked): the cap must stop the upload as it arrives."""
    boundary = "testboundary123"

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        for _ in range(48):  # 3 MiB in 64 KiB chunks
            yield b"\1" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/analyze",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    _error(response, 413, "upload_too_large")
    assert list(server.uploads_dir.iterdir()) == []


def test_errors_never_leak_tracebacks(client: httpx.Client) -> None:
    checks: list[Callable[[], httpx.Response]] = [
        lambda: client.get("/nowhere"),
        lambda: client.put("/health"),
        lambda: client.post(
            "/analyze",
            content=b"garbage",
            headers={"Content-Type": "multipart/form-data; boundary=zz"},
        ),
    ]
    for check in checks:
        response = check()
        assert 400 <= response.status_code < 500, response.text
        assert "Traceback" not in response.text
        assert set(response.json()["error"]) >= {"code", "message"}


def test_a_client_that_disconnects_mid_upload_is_not_an_error(
    client: httpx.Client, server: ServerProcess
) -> None:
    import socket

    head = (
        "POST /analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500000\r\n"
        "Content-Type: multipart/form-data; boundary=b0undary\r\n\r\n"
        '--b0undary\r\nContent-Disposition: form-data; name="file"; filename="x.mp4"\r\n\r\n'
    )
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head.encode() + b"\0" * 20_000)
    wait_for(lambda: 'code="client_disconnected"' in client.get("/metrics").text, 10, "the metric")
    metrics = client.get("/metrics").text
    assert 'route="/analyze",status="500"' not in metrics
    uploads = server.uploads_dir
    wait_for(lambda: not uploads.exists() or not any(uploads.iterdir()), 10, "no partial upload")
    log = server.log_file.read_text()
    assert "client disconnected during the upload" in log
    assert "Traceback" not in log[max(0, log.index("client disconnected") - 2000) :]


def test_hostile_files_leave_the_front_memory_where_it_was(
    client: httpx.Client, server: ServerProcess, media: Path
) -> None:
    refused = ("streams.mp4", "giant.png")
    admitted = "streams-32.mp4"  # as many streams as allowed: analysed

    def upload_all() -> None:
        for name in refused:
            assert post_video(client, media / name).status_code == 422
        assert post_video(client, media / admitted, frames=1).status_code == 200

    upload_all()  # first use: the code paths' own one-time allocations
    before = _rss_mb(server.pid)
    for _ in range(3):
        upload_all()
    after = _rss_mb(server.pid)
    print(f"front RSS before {before:.1f} MB, after 9 hostile uploads {after:.1f} MB")
    assert after - before < 20, (before, after)
