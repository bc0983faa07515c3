"""Links shown or logged lose their secrets: user-info, query values and fragment masked."""

from __future__ import annotations

import logging

import pytest

from api.logging_setup import AccessLinkFilter, ClientLinkFilter
from api.masking import masked_request_path, masked_url

SECRETS = ("pass", "s3cr3t", "t0kval", "sigval", "AKIA", "hunter2")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("https://cdn.example.com/v.mp4", "https://cdn.example.com/v.mp4"),
        ("https://user:pass@host/v.mp4?token=tok", "https://***@host/v.mp4?token=***"),
        ("https://user@host:8443/v.mp4", "https://***@host:8443/v.mp4"),
        ("http://a:b@c@host/v.mp4", "http://***@host/v.mp4"),
        (
            "https://bucket.s3.amazonaws.com/v.mp4?X-Amz-Credential=AKIA&X-Amz-Signature=sig",
            "https://bucket.s3.amazonaws.com/v.mp4?X-Amz-Credential=***&X-Amz-Signature=***",
        ),
        ("https://host/v.mp4?s3cr3t", "https://host/v.mp4?***"),  # a bare word may be the secret
        ("https://host/v.mp4?a=1&a=2&empty=", "https://host/v.mp4?a=***&a=***&empty="),
        ("https://host/v.mp4#access_token=hunter2", "https://host/v.mp4#***"),
        ("https://host/v.mp4?;;;=tok&&&", "https://host/v.mp4?;;;=***&&&"),
        ("https://user:p%40ss@[::1]:80/v?x=tok", "https://***@[::1]:80/v?x=***"),
    ],
)
def test_masked_url(raw: str, shown: str) -> None:
    assert masked_url(raw) == shown
    assert masked_url(masked_url(raw)) == shown  # masking twice changes nothing


def test_a_link_that_does_not_parse_is_masked_whole() -> None:
    assert masked_url("http://[::1/v.mp4?token=tok") == "***"


@pytest.mark.parametrize(
    "path",
    [
        "/jobs?url=https%3A%2F%2Fuser%3Apass%40h%2Fv.mp4%3Ftoken%3Dt0kval&frames=4",
        "/analyze?callback_url=https://h/hook?sig=sigval&url=https://u:hunter2@h/v",
    ],
)
def test_the_access_log_masks_the_links_in_a_query(path: str) -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", path, "1.1", 200),
        None,
    )
    AccessLinkFilter().filter(record)
    line = record.getMessage()
    assert not any(secret in line for secret in SECRETS), line
    assert "***" in line and line.startswith("127.0.0.1:5000")


def test_other_request_paths_are_logged_as_they_are() -> None:
    assert masked_request_path("/jobs") == "/jobs"
    assert masked_request_path("/jobs?limit=10") == "/jobs?limit=10"


def test_the_http_client_log_masks_the_links_it_fetches() -> None:
    record = logging.LogRecord(
        "httpx", logging.INFO, "", 0, 'HTTP Request: %s %s "%s %d %s"',
        ("GET", "http://u:hunter2@h/v.mp4?t=t0kval", "HTTP/1.1", 200, "OK"), None,
    )  # fmt: skip
    ClientLinkFilter().filter(record)
    assert record.getMessage() == 'HTTP Request: GET http://***@h/v.mp4?t=*** "HTTP/1.1 200 OK"'
