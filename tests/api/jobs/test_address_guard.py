"""The address guard by table: every non-public range, every IPv6 form embedding an IPv4 address.

The test that really fetches runs in a network namespace with only loopback, so a
guard that let an address through could not send traffic anywhere."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from api.errors import RequestRejected
from api.jobs.address_guard import AddressGuard, embedded_v4
from api.jobs.fetch import UrlDownload
from api.jobs.files import UploadFiles
from tests.support import netns

#: refused by default: IPv4 special-purpose ranges
REFUSED_V4 = [
    "127.0.0.1",
    "127.255.255.254",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.1.1",
    "100.64.0.1",
    "100.127.255.255",
    "0.0.0.0",
    "0.1.2.3",
    "192.0.0.8",
    "192.0.2.1",
    "192.88.99.1",
    "198.18.0.1",
    "198.51.100.1",
    "203.0.113.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
]
#: refused by default: IPv6 ranges, and forms carrying a refused IPv4 address
REFUSED_V6 = [
    "::",
    "::1",
    "::2",
    "fe80::1",
    "febf::1",
    "fec0::1",
    "feff::1",
    "fc00::1",
    "fd00:ec2::254",
    "ff02::1",
    "ff05::1:3",
    "100::1",
    "2001:db8::1",
    "3fff::1",
    "5f00::1",
    "2001:10::1",
    "4000::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "::10.0.0.1",
    "::8.8.8.8",  # IPv4-compatible is deprecated: refused whatever it carries
    "::ffff:0:127.0.0.1",  # IPv4-translated
    "::ffff:0:8.8.8.8",
    "64:ff9b::127.0.0.1",  # NAT64 well-known prefix
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::10.0.0.1",
    "64:ff9b:1::a9fe:a9fe",  # NAT64 local-use prefix
    "64:ff9b:1::8.8.8.8",
    "64:ff9b:1:7f00:0:100::",
    "2002:7f00:1::",  # 6to4
    "2002:a9fe:a9fe::1",
    "2002:a00:1::",
    "2002:c0a8:101::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "2001:0:a9fe:a9fe::1",
]
#: refused even with URL_ALLOW_PRIVATE: the metadata addresses, in every wrapping
METADATA = [
    "169.254.169.254",
    "169.254.170.2",
    "100.100.100.200",
    "fd00:ec2::254",
    "::ffff:169.254.169.254",
    "::169.254.169.254",
    "::ffff:0:169.254.169.254",
    "64:ff9b::169.254.169.254",
    "64:ff9b:1::169.254.169.254",
    "64:ff9b:1:a9fe:a9:fe00::",
    "2002:a9fe:a9fe::",
    "2001:0:a9fe:a9fe::1",
    "2001:0:1:2::5601:5601",  # Teredo client 169.254.169.254, obfuscated
]
PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700::1111",
    "2a00:1450:4001:82b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
    "2002:808:808::1",
]


@pytest.mark.parametrize("ip", REFUSED_V4 + REFUSED_V6)
def test_non_public_addresses_are_refused(ip: str) -> None:
    assert AddressGuard().refusal(ip) is not None


@pytest.mark.parametrize("ip", METADATA)
def test_metadata_is_refused_in_every_form_even_when_private_is_allowed(ip: str) -> None:
    assert "metadata" in (AddressGuard(allow_private=True).refusal(ip) or "")
    assert AddressGuard().refusal(ip) is not None


@pytest.mark.parametrize("ip", PUBLIC)
def test_public_addresses_pass(ip: str) -> None:
    assert AddressGuard().refusal(ip) is None


def test_the_local_use_nat64_prefix_is_unwrapped_in_both_layouts() -> None:
    import ipaddress

    found = embedded_v4(ipaddress.IPv6Address("64:ff9b:1:a9fe:a9:fe00::"))
    assert ipaddress.IPv4Address("169.254.169.254") in found


def _fetch_all(ips: list[str], spool: Path) -> dict[str, str]:
    download = UrlDownload(UploadFiles(spool), AddressGuard(), 1000, 3.0)
    codes: dict[str, str] = {}
    for ip in ips:
        host = f"[{ip}]" if ":" in ip else ip
        try:
            asyncio.run(download.fetch(f"http://{host}:8080/v.mp4"))
            codes[ip] = "fetched"
        except RequestRejected as exc:
            codes[ip] = exc.code
    return codes


@pytest.mark.skipif(not netns.available(), reason="needs root, unshare and ip")
def test_refused_addresses_are_never_connected_to(tmp_path: Path) -> None:
    ips = REFUSED_V4 + REFUSED_V6 + METADATA + PUBLIC
    code = (
        "import json, sys; from pathlib import Path;"
        "from tests.api.jobs.test_address_guard import _fetch_all;"
        f"print(json.dumps(_fetch_all(json.loads(sys.argv[1]), Path({str(tmp_path)!r}))))"
    )
    done = netns.run_loopback_only([sys.executable, "-c", code, json.dumps(ips)])
    assert done.returncode == 0, done.stderr
    codes = json.loads(done.stdout.strip().splitlines()[-1])
    assert {ip for ip, c in codes.items() if c != "url_not_allowed"} == set(PUBLIC)
    # The public ones were tried and found no route out of the namespace: nothing left it.
    assert {codes[ip] for ip in PUBLIC} == {"url_fetch_failed"}
