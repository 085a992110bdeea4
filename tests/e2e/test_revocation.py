"""Revocation reaches the gateway within a second; the admin CLI and API act on a live instance."""

from __future__ import annotations

import json
import time

import jwt

from harness import Seawall, Upstream

WITHIN = 1.0


def refused_within(gw: Seawall, path: str, token: str, start: float, limit: float) -> float:
    """Polls the gateway; returns seconds from `start` until `token` is refused (or fails)."""
    while True:
        status = gw.curl(path, token=token).status
        elapsed = time.monotonic() - start
        if status in (401, 403):
            return elapsed
        assert elapsed <= limit + 2, f"token still accepted {elapsed:.2f}s after revocation"
        time.sleep(0.02)


def test_disabling_a_user_reaches_the_gateway_within_a_second(
        gw: Seawall, upstream: Upstream, marker: str) -> None:
    user = gw.add_user("dave", ["eng"])
    token = gw.sign_in(user)["access_token"]
    assert gw.curl(f"/app/{marker}-before", token=token).status == 200

    r = gw.cli("user", "disable", "dave")
    done = time.monotonic()
    assert r.returncode == 0, r.stderr
    took = refused_within(gw, f"/app/{marker}-after", token, done, WITHIN)
    assert took <= WITHIN, f"refused only after {took:.2f}s"

    listed = json.loads(gw.cli("user", "list", "--json", check=True).stdout)
    dave = next(u for u in listed if (u.get("name") or u.get("username")) == "dave")
    assert dave.get("disabled") is True or dave.get("status") == "disabled", dave


def test_an_admin_revokes_one_token_over_the_api(gw: Seawall, users, marker: str) -> None:
    admin = users.token("root-admin", ("admins",))
    victim = gw.add_user("ivan", ["eng"])
    done = gw.sign_in(victim)
    token = done["access_token"]
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert gw.curl(f"/app/{marker}", token=token).status == 200

    r = gw.api("POST", "/api/v1/tokens/revoke", json={"jti": jti},
               headers={"Authorization": f"Bearer {admin}"})
    start = time.monotonic()
    assert r.status_code in (200, 204), r.text
    took = refused_within(gw, f"/app/{marker}-revoked", token, start, WITHIN)
    assert took <= WITHIN, f"refused only after {took:.2f}s"


def test_the_admin_api_is_for_admins_only(gw: Seawall, users, alice_token: str) -> None:
    r = gw.api("GET", "/api/v1/users", headers={"Authorization": f"Bearer {alice_token}"})
    assert r.status_code == 403, r.text
    r = gw.api("GET", "/api/v1/users")
    assert r.status_code == 401, r.text
    admin = users.token("root-admin", ("admins",))
    r = gw.api("GET", "/api/v1/users", headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 200, r.text
    assert "alice" in r.text
    # A user's secrets never leave the server.
    assert "password" not in r.text.lower() or "$argon2" not in r.text


def test_removing_a_group_takes_effect_for_new_tokens(gw: Seawall, users, marker: str) -> None:
    user = gw.add_user("judy", ["eng"])
    first = gw.sign_in(user)
    assert gw.curl(f"/app/{marker}-in", token=first["access_token"]).status == 200
    gw.cli("user", "group", "remove", "judy", "eng", check=True)
    # The removal revokes every token issued at or before its second (JWT `iat` has whole
    # seconds); a token refreshed within that same second is refused until the next one.
    # Known limitation, noted on the issue; wait it out here.
    time.sleep(1.1)
    r = gw.api("POST", "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert "eng" not in claims["groups"]
    assert gw.curl(f"/app/{marker}-out", token=r.json()["access_token"]).status == 403


def test_metrics_count_decisions(gw: Seawall, bob_token: str, marker: str) -> None:
    gw.curl(f"/app/{marker}", token=bob_token)
    r = gw.session().get(gw.metrics_url, timeout=10)
    assert r.status_code == 200
    assert "seawall_" in r.text
    assert bob_token not in r.text
