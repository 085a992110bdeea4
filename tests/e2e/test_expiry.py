"""An expired access token is refused, with a gateway whose tokens live two seconds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import jwt
import pytest

from conftest import POLICIES, gateway_config
from harness import Seawall, Upstream

ACCESS_TTL = 2
# Clock-skew leeway a verifier may reasonably allow past `exp` (Seawall allows 30 s; `exp` is
# in whole seconds), plus the polling.
MAX_LEEWAY = 35


@pytest.fixture(scope="module")
def short(seawall_bin: Path, upstream: Upstream,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seawall]:
    sw = Seawall(tmp_path_factory.mktemp("short-ttl"), gateway_config(upstream),
                 policies=POLICIES,
                 env={"SEAWALL_TOKENS__ACCESS_TTL_SECS": str(ACCESS_TTL)})
    sw.start()
    yield sw
    sw.stop()


def test_an_expired_token_gets_401(short: Seawall, upstream: Upstream, marker: str) -> None:
    user = short.add_user("shortlived", ["eng"])
    done = short.sign_in(user)
    token = done["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == ACCESS_TTL
    assert done["expires_in"] <= ACCESS_TTL

    assert short.curl(f"/app/{marker}-fresh", token=token).status == 200

    # Wait past `exp`, then poll until the gateway refuses it.
    time.sleep(max(0.0, claims["exp"] - time.time()) + 0.2)
    took = short.wait_until(
        lambda: short.curl(f"/app/{marker}-late", token=token).status == 401,
        timeout=MAX_LEEWAY, interval=0.5)
    assert took is not None, f"the gateway still accepts a token {MAX_LEEWAY}s past its exp"
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, options={"verify_signature": False, "verify_exp": True})

    # A refresh gives a working token again.
    r = short.api("POST", "/api/v1/auth/refresh", json={"refresh_token": done["refresh_token"]})
    assert r.status_code == 200, r.text
    assert short.curl(f"/app/{marker}-renewed", token=r.json()["access_token"]).status == 200


def test_access_token_lifetime_above_an_hour_is_refused_at_startup(
        seawall_bin: Path, tmp_path: Path) -> None:
    sw = Seawall(tmp_path, "[tokens]\naccess_ttl_secs = 7200\nkey_rotation_secs = 99999\n")
    with pytest.raises(AssertionError) as e:
        sw.start(timeout=30)
    assert sw.proc.returncode == 2, sw.log_tail()
    assert "tokens.access_ttl_secs" in str(e.value)
