"""Sign-in with mandatory MFA, TOTP from pyotp, tokens verified by pyjwt from the JWKS URL alone."""

from __future__ import annotations

import time

import jwt
import pyotp
import pytest

from harness import Seawall, SignInError


def test_openid_configuration_points_at_the_jwks(gw: Seawall) -> None:
    r = gw.api("GET", "/.well-known/openid-configuration")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["issuer"].rstrip("/") == gw.server_url
    assert doc["jwks_uri"].startswith(gw.server_url)
    r = gw.api("GET", "/.well-known/jwks.json")
    assert r.status_code == 200, r.text
    keys = r.json()["keys"]
    assert keys, "the JWKS publishes no key"
    for k in keys:
        assert k["kid"]
        assert k["kty"] in ("OKP", "EC")
        # Public keys only: no private part of an OKP or EC key.
        assert "d" not in k


def test_a_user_without_a_second_factor_gets_no_access_token(gw: Seawall) -> None:
    user = gw.add_user("nofactor", ["eng"])
    r = gw.password_step(user)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["step"] == "enroll"
    assert "access_token" not in body and "refresh_token" not in body
    # The pending sign-in is no credential at the gateway.
    assert gw.curl("/app/x", token=body["pending"]).status == 401
    # Nor can it skip enrollment by claiming a factor it does not have.
    r = gw.api("POST", "/api/v1/auth/factor",
               json={"pending": body["pending"], "kind": "totp", "code": "123456"})
    assert r.status_code in (400, 401, 403), r.text
    assert "access_token" not in r.text


def test_enrollment_gives_a_standard_otpauth_uri_and_recovery_codes(gw: Seawall) -> None:
    user = gw.add_user("enrollee", [])
    done = gw.enroll(user)
    e = done["_enrollment"]
    parsed = pyotp.parse_uri(e["uri"])
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == e["secret"]
    assert parsed.digits == 6 and parsed.interval == 30
    assert parsed.digest().name == "sha1"
    assert e["uri"].startswith("otpauth://totp/")
    assert "<svg" in e["qr_svg"]
    assert done["access_token"] and done["refresh_token"] and done["session_token"]
    codes = done.get("recovery_codes")
    assert codes and len(codes) == 10 and len(set(codes)) == 10


def test_wrong_password_is_refused(gw: Seawall) -> None:
    user = gw.add_user("wrongpw", [])
    gw.enroll(user)
    user_pw = user.password
    user.password = "not-" + user_pw
    r = gw.password_step(user)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "bad_credentials"
    assert "pending" not in r.json()


def test_a_wrong_totp_code_is_refused(gw: Seawall) -> None:
    user = gw.add_user("wrongcode", [])
    gw.enroll(user)
    r = gw.password_step(user)
    pending = r.json()["pending"]
    good = user.totp.now()
    bad = f"{(int(good) + 1) % 1_000_000:06d}"
    r = gw.api("POST", "/api/v1/auth/factor", json={"pending": pending, "kind": "totp",
                                                      "code": bad})
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "bad_code"
    assert "access_token" not in r.text


def test_a_totp_code_used_twice_is_refused_the_second_time(gw: Seawall) -> None:
    user = gw.add_user("frank", ["eng"])
    gw.enroll(user)
    code = user.fresh_code()

    first = gw.password_step(user).json()["pending"]
    r = gw.api("POST", "/api/v1/auth/factor",
               json={"pending": first, "kind": "totp", "code": code})
    assert r.status_code == 200, r.text
    assert r.json()["access_token"]

    # The same code again, inside its 30 s window, on a new sign-in.
    second = gw.password_step(user).json()["pending"]
    r = gw.api("POST", "/api/v1/auth/factor",
               json={"pending": second, "kind": "totp", "code": code})
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "code_reused"
    assert "access_token" not in r.text


def test_a_code_one_step_ahead_is_accepted_and_two_steps_ahead_is_not(gw: Seawall) -> None:
    user = gw.add_user("skew", [])
    gw.enroll(user)
    # Into a step from which the next one is still unspent, not at a step's very end.
    while True:
        now = time.time()
        step = int(now // 30)
        if step >= user.last_step and now % 30 < 25:
            break
        time.sleep(30 - now % 30 + 0.1)
    pending = gw.password_step(user).json()["pending"]
    r = gw.api("POST", "/api/v1/auth/factor",
               json={"pending": pending, "kind": "totp", "code": user.totp.at((step + 2) * 30)})
    assert r.status_code == 401, f"a code two steps ahead was accepted: {r.text}"
    pending = gw.password_step(user).json()["pending"]
    r = gw.api("POST", "/api/v1/auth/factor",
               json={"pending": pending, "kind": "totp", "code": user.totp.at((step + 1) * 30)})
    assert r.status_code == 200, f"a code one step ahead was refused: {r.text}"
    user.last_step = step + 1


def test_a_recovery_code_works_once(gw: Seawall) -> None:
    user = gw.add_user("recover", [])
    codes = gw.enroll(user)["recovery_codes"]
    pending = gw.password_step(user).json()["pending"]
    r = gw.api("POST", "/api/v1/auth/factor",
               json={"pending": pending, "kind": "recovery_code", "code": codes[0]})
    assert r.status_code == 200, r.text
    assert r.json()["access_token"]
    pending = gw.password_step(user).json()["pending"]
    r = gw.api("POST", "/api/v1/auth/factor",
               json={"pending": pending, "kind": "recovery_code", "code": codes[0]})
    assert r.status_code in (400, 401), r.text
    assert "access_token" not in r.text


def test_pyjwt_verifies_an_access_token_using_only_the_jwks_url(gw: Seawall) -> None:
    user = gw.add_user("jwtuser", ["eng", "ops"])
    done = gw.sign_in(user)
    token = done["access_token"]

    discovery = gw.api("GET", "/.well-known/openid-configuration").json()
    client = jwt.PyJWKClient(discovery["jwks_uri"], ssl_context=gw.ssl_context())
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key=key,
        algorithms=["EdDSA", "ES256"],
        audience="seawall",
        issuer=discovery["issuer"],
        options={"require": ["sub", "exp", "iat", "aud", "jti"]},
    )
    assert claims["sub"] in ("jwtuser",) or claims.get("preferred_username") == "jwtuser"
    assert sorted(claims["groups"]) == ["eng", "ops"]
    assert "otp" in claims["amr"] or "totp" in claims["amr"]
    assert "pwd" in claims["amr"]
    assert claims["exp"] - claims["iat"] <= 300
    assert claims["exp"] > time.time()
    assert abs(claims["auth_time"] - time.time()) < 120
    assert jwt.get_unverified_header(token)["alg"] in ("EdDSA", "ES256")
    assert done["expires_in"] <= 300


def test_pyjwt_rejects_a_token_altered_after_signing(gw: Seawall) -> None:
    user = gw.add_user("jwtuser2", ["sales"])
    token = gw.sign_in(user)["access_token"]
    head, payload, sig = token.split(".")
    forged = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"sales"', b'"admin"')
    ).decode()
    discovery = gw.api("GET", "/.well-known/openid-configuration").json()
    client = jwt.PyJWKClient(discovery["jwks_uri"], ssl_context=gw.ssl_context())
    key = client.get_signing_key_from_jwt(token)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{head}.{forged}.{sig}", key=key, algorithms=["EdDSA", "ES256"],
                   audience="seawall")


def test_refresh_rotates_and_a_reused_refresh_token_revokes_its_family(gw: Seawall) -> None:
    user = gw.add_user("erin", ["eng"])
    first = gw.sign_in(user)
    r0 = first["refresh_token"]

    r = gw.api("POST", "/api/v1/auth/refresh", json={"refresh_token": r0})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != r0, "the refresh token did not rotate"
    assert gw.curl("/app/family", token=second["access_token"]).status == 200

    # Presenting r0 again: theft. The whole family is revoked.
    r = gw.api("POST", "/api/v1/auth/refresh", json={"refresh_token": r0})
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "refresh_reuse"

    r = gw.api("POST", "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401, f"the rotated refresh token still works: {r.text}"
    took = gw.wait_until(
        lambda: gw.curl("/app/family", token=second["access_token"]).status == 401, 1.5)
    assert took is not None, "the access token of the revoked family still works at the gateway"


def test_sign_out_ends_the_session(gw: Seawall) -> None:
    user = gw.add_user("signout", ["eng"])
    done = gw.sign_in(user)
    r = gw.api("POST", "/api/v1/auth/sign-out", json={"session_token": done["session_token"]})
    assert r.status_code in (200, 204), r.text
    r = gw.api("POST", "/api/v1/auth/refresh", json={"refresh_token": done["refresh_token"]})
    assert r.status_code == 401, r.text
    took = gw.wait_until(
        lambda: gw.curl("/app/so", token=done["access_token"]).status == 401, 1.5)
    assert took is not None, "an access token of an ended session still works"


def test_sign_in_does_not_accept_a_disabled_user(gw: Seawall) -> None:
    user = gw.add_user("gone", [])
    gw.enroll(user)
    gw.cli("user", "disable", "gone", check=True)
    with pytest.raises(SignInError):
        gw.sign_in(user)
