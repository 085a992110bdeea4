"""`seawall up --demo`: the built-in echo upstream behind the route `demo`, with default policies.

The demo upstream listens on 127.0.0.1:8081 (fixed), so this module runs one demo instance.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Iterator

import pytest
import requests

from harness import Seawall

DEMO_UPSTREAM = "http://127.0.0.1:8081"


def demo_log() -> list[dict]:
    return requests.get(f"{DEMO_UPSTREAM}/__access_log", timeout=10).json()


def arrived(marker: str) -> bool:
    return any(marker in (e.get("uri") or e.get("path") or "") for e in demo_log())


@pytest.fixture(scope="module")
def demo(seawall_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seawall]:
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 8081)) == 0:
            pytest.fail("127.0.0.1:8081 is in use; the demo upstream needs it")
    sw = Seawall(tmp_path_factory.mktemp("demo"), "[throttle]\nfree_failures = 1000\n",
                 demo=True)
    sw.start()
    yield sw
    sw.stop()


def test_up_prints_what_to_do_next(demo: Seawall) -> None:
    out = demo.log_text()
    assert demo.gateway_url in out
    assert "seawall user add" in out
    assert (demo.data_dir / "root.key").stat().st_mode & 0o777 == 0o600
    assert (demo.data_dir / "tls" / "cert.pem").exists()
    assert list((demo.data_dir / "policies").glob("*.cedar"))


def test_a_signed_in_user_reads_the_demo_and_sees_its_identity(demo: Seawall,
                                                               marker: str) -> None:
    user = demo.add_user("newcomer", [])
    token = demo.sign_in(user)["access_token"]
    r = demo.curl(f"/{marker}", token=token)
    assert r.status == 200, r.body
    echoed = json.loads(r.body)
    headers = {k.lower(): v for k, v in echoed["headers"].items()}
    assert headers["x-forwarded-user"]
    assert "x-seawall-assertion" in headers
    assert "authorization" not in headers, "the bearer token was passed to the upstream"
    assert arrived(marker)


def test_the_default_policies_refuse_a_write_to_the_demo(demo: Seawall, marker: str) -> None:
    user = demo.add_user("writer", [])
    token = demo.sign_in(user)["access_token"]
    r = demo.curl(f"/{marker}", token=token, method="POST")
    assert r.status == 403, r.body
    assert r.body.startswith("denied: ")
    assert not arrived(marker), "the denied request reached the upstream"


def test_an_admin_may_write_to_the_demo(demo: Seawall, marker: str) -> None:
    admin = demo.add_user("admin", ["admins"])
    token = demo.sign_in(admin)["access_token"]
    r = demo.curl(f"/{marker}", token=token, method="POST")
    assert r.status == 200, r.body
    assert arrived(marker)


def test_no_token_gets_401_at_the_demo(demo: Seawall, marker: str) -> None:
    r = demo.curl(f"/{marker}", headers={"Accept": "application/json"})
    assert r.status == 401
    assert not arrived(marker)
