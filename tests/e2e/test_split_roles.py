"""`seawall server` and `seawall proxy` apart: the proxy gets keys, revocations and policies
from the control plane, and revocation reaches it within a second."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from conftest import POLICIES, gateway_config
from harness import Seawall, Upstream


@pytest.fixture(scope="module")
def server(seawall_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seawall]:
    sw = Seawall(tmp_path_factory.mktemp("server"), "[throttle]\nfree_failures = 1000\n",
                 policies=POLICIES, role="server")
    sw.start()
    yield sw
    sw.stop()


@pytest.fixture(scope="module")
def proxy(server: Seawall, upstream: Upstream,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seawall]:
    config = gateway_config(upstream).replace(
        "[gateway]\n",
        f'[gateway]\nserver_url = "{server.server_url}"\nserver_ca = "{server.cert}"\n'
        "sync_interval_ms = 200\n",
    )
    sw = Seawall(tmp_path_factory.mktemp("proxy"), config, role="proxy")
    sw.start()
    yield sw
    sw.stop()


def test_the_proxy_follows_the_control_plane(server: Seawall, proxy: Seawall,
                                             upstream: Upstream, marker: str) -> None:
    user = server.add_user("remote-alice", ["eng"])
    token = server.sign_in(user)["access_token"]
    # The proxy fails closed until its first sync; then it knows the keys and policies.
    took = proxy.wait_until(lambda: proxy.curl(f"/app/{marker}-w", token=token).status == 200,
                            timeout=15, interval=0.2)
    assert took is not None, proxy.log_tail()
    assert upstream.saw(f"{marker}-w")

    bob = server.add_user("remote-bob", ["sales"])
    bob_token = server.sign_in(bob)["access_token"]
    r = proxy.curl(f"/app/{marker}-bob", token=bob_token)
    assert r.status == 403, r.body
    assert not upstream.saw(f"{marker}-bob")
    assert proxy.curl(f"/app/{marker}-none", headers={"Accept": "application/json"}).status == 401


def test_disabling_a_user_reaches_the_proxy_within_a_second(
        server: Seawall, proxy: Seawall, marker: str) -> None:
    user = server.add_user("remote-dave", ["eng"])
    token = server.sign_in(user)["access_token"]
    took = proxy.wait_until(lambda: proxy.curl(f"/app/{marker}", token=token).status == 200,
                            timeout=15, interval=0.2)
    assert took is not None, proxy.log_tail()

    r = server.cli("user", "disable", "remote-dave")
    assert r.returncode == 0, r.stderr
    took = proxy.wait_until(
        lambda: proxy.curl(f"/app/{marker}-after", token=token).status in (401, 403),
        timeout=3, interval=0.02)
    assert took is not None, "the proxy still accepts the disabled user's token after 3 s"
    assert took <= 1.0, f"refused only after {took:.2f}s"


def test_a_policy_change_on_the_control_plane_reaches_the_proxy(
        server: Seawall, proxy: Seawall, marker: str) -> None:
    user = server.add_user("remote-erin", ["sales"])
    token = server.sign_in(user)["access_token"]
    proxy.wait_until(lambda: proxy.curl(f"/open/{marker}", token=token).status == 200,
                     timeout=15, interval=0.2)
    assert proxy.curl(f"/app/{marker}-before", token=token).status == 403
    extra = server.policy_dir / "sales.cedar"
    extra.write_text('permit (principal in Group::"sales", action, resource == Route::"app");\n')
    try:
        took = proxy.wait_until(
            lambda: proxy.curl(f"/app/{marker}-after", token=token).status == 200,
            timeout=10, interval=0.2)
        assert took is not None, "the proxy never applied the new policy"
    finally:
        extra.unlink()
    took = proxy.wait_until(
        lambda: proxy.curl(f"/app/{marker}-again", token=token).status == 403,
        timeout=10, interval=0.2)
    assert took is not None, "the proxy kept a removed policy"
