"""Step-up: a route whose policy wants a fresh second factor sends the user to verify again."""

from __future__ import annotations

import time
from urllib.parse import unquote

from harness import Seawall, Upstream

MAX_MFA_AGE = 5


def test_a_stale_second_factor_is_sent_to_verify_and_a_fresh_one_gets_in(
        gw: Seawall, upstream: Upstream, marker: str) -> None:
    user = gw.add_user("stepper", [])
    done = gw.sign_in(user)
    assert gw.curl(f"/sensitive/{marker}-fresh", token=done["access_token"]).status == 200

    time.sleep(MAX_MFA_AGE + 1.5)
    # A browser with its session cookie is sent to re-verify, then back here.
    r = gw.curl(f"/sensitive/{marker}-stale",
                headers={"Cookie": f"seawall_session={done['session_token']}",
                         "Accept": "text/html"})
    assert r.status in (302, 303), (r.status, r.body)
    location = unquote(r.headers["location"])
    assert "/.seawall/verify" in location and f"/sensitive/{marker}-stale" in location, location
    # An API client is refused, and told why.
    r = gw.curl(f"/sensitive/{marker}-stale", token=done["access_token"])
    assert r.status in (401, 403), (r.status, r.body)
    assert "stale_mfa" in r.body or "step" in r.body.lower(), r.body
    assert not upstream.saw(f"{marker}-stale")

    # Verifying the factor again gives tokens with a fresh MFA time.
    r = gw.api("POST", "/api/v1/auth/step-up",
               json={"session_token": done["session_token"], "kind": "totp",
                     "code": user.fresh_code()})
    assert r.status_code == 200, r.text
    fresh = r.json()
    assert gw.curl(f"/sensitive/{marker}-again", token=fresh["access_token"]).status == 200
    assert upstream.saw(f"{marker}-again")
