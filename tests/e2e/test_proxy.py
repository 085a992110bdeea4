"""The identity-aware proxy, driven with curl: who gets through, who is refused, what arrives."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time

import jwt
import pytest
import websocket
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from harness import Seawall, Upstream, header_values


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parts(token: str) -> tuple[dict, dict, str]:
    head, payload, sig = token.split(".")
    return json.loads(unb64url(head)), json.loads(unb64url(payload)), sig


def assemble(header: dict, claims: dict, sig: bytes | str) -> str:
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url(json.dumps(claims, separators=(",", ":")).encode())
    s = sig if isinstance(sig, str) else b64url(sig)
    return f"{h}.{p}.{s}"


# ---------------------------------------------------------------------------------------------
# Allowed


def test_an_allowed_request_returns_the_upstreams_answer(
        gw: Seawall, upstream: Upstream, alice_token: str, marker: str) -> None:
    r = gw.curl(f"/app/{marker}?q=1", token=alice_token)
    assert r.status == 200, r.body
    answer = json.loads(r.body)
    assert answer["upstream"] == "ok"
    assert answer["path"] == f"/app/{marker}?q=1"
    assert upstream.saw(marker)
    # The gateway's credential is for the gateway: the upstream never gets it to replay.
    seen = upstream.requests_with(marker)[0]
    assert all(alice_token not in v for _, v in seen["headers"])


def test_http2_through_the_gateway(gw: Seawall, alice_token: str, marker: str) -> None:
    out = subprocess.run(
        ["curl", "-sS", "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
         "--cacert", str(gw.cert), "-H", f"Authorization: Bearer {alice_token}",
         f"{gw.gateway_url}/open/{marker}"],
        capture_output=True, text=True, timeout=20)
    assert out.stdout.strip() == "2 200", out.stdout + out.stderr


def test_a_post_body_reaches_the_upstream_intact(
        gw: Seawall, upstream: Upstream, alice_token: str, marker: str) -> None:
    r = subprocess.run(
        ["curl", "-sS", "--cacert", str(gw.cert), "-H", f"Authorization: Bearer {alice_token}",
         "-H", "Content-Type: text/plain", "--data-binary", "hello upstream",
         f"{gw.gateway_url}/open/{marker}"],
        capture_output=True, text=True, timeout=20)
    assert json.loads(r.stdout)["body"] == "hello upstream"
    seen = upstream.requests_with(marker)
    assert [s["method"] for s in seen] == ["POST"]


# ---------------------------------------------------------------------------------------------
# 401: no valid token


def test_a_request_without_a_token_gets_401_and_never_arrives(
        gw: Seawall, upstream: Upstream, marker: str) -> None:
    r = gw.curl(f"/app/{marker}", headers={"Accept": "application/json"})
    assert r.status == 401, r.body
    assert not upstream.saw(marker)


def test_a_browser_without_a_session_is_sent_to_sign_in(gw: Seawall, upstream: Upstream,
                                                        marker: str) -> None:
    r = gw.curl(f"/app/{marker}?x=1", headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.status in (302, 303), r.body
    location = r.headers["location"]
    assert "/.seawall/sign-in" in location
    assert "rd=" in location and marker in location
    assert not upstream.saw(marker)


def test_a_tampered_token_gets_401(gw: Seawall, upstream: Upstream, bob_token: str,
                                   marker: str) -> None:
    header, claims, sig = parts(bob_token)
    claims["groups"] = ["eng", "admins"]
    forged = assemble(header, claims, sig)
    r = gw.curl(f"/app/{marker}", token=forged)
    assert r.status == 401, r.body
    # One flipped character of the signature.
    h, p, s = bob_token.split(".")
    flipped = s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1]
    assert gw.curl(f"/open/{marker}", token=f"{h}.{p}.{flipped}").status == 401
    assert not upstream.saw(marker)


def test_an_alg_none_token_gets_401(gw: Seawall, upstream: Upstream, alice_token: str,
                                    marker: str) -> None:
    header, claims, _ = parts(alice_token)
    for alg in ("none", "None", "NONE"):
        unsigned = assemble({"alg": alg, "typ": "JWT"}, claims, "")
        assert gw.curl(f"/app/{marker}", token=unsigned).status == 401, alg
        assert gw.curl(f"/app/{marker}",
                       token=assemble({**header, "alg": alg}, claims, "")).status == 401
    assert not upstream.saw(marker)


def test_an_hs256_token_signed_with_the_public_key_gets_401(
        gw: Seawall, upstream: Upstream, alice_token: str, marker: str) -> None:
    header, claims, _ = parts(alice_token)
    jwks = gw.api("GET", "/.well-known/jwks.json").json()
    jwk = next(k for k in jwks["keys"] if k["kid"] == header.get("kid"))
    public = jwt.PyJWK(jwk).key
    # Every form of the public key an algorithm-confusion attacker would try as the secret.
    secrets = [
        public.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo),
        json.dumps(jwk).encode(),
    ]
    if jwk["kty"] == "OKP":
        secrets.append(unb64url(jwk["x"]))
    for secret in secrets:
        for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
            h = {**header, "alg": alg}
            unsigned = assemble(h, claims, "").rstrip(".")
            sig = hmac.new(secret, unsigned.encode(), digest).digest()
            r = gw.curl(f"/app/{marker}", token=f"{unsigned}.{b64url(sig)}")
            assert r.status == 401, (alg, secret[:30], r.body)
    assert not upstream.saw(marker)


def test_a_token_signed_by_another_key_with_our_kid_gets_401(
        gw: Seawall, upstream: Upstream, alice_token: str, marker: str) -> None:
    header, claims, _ = parts(alice_token)
    if header["alg"] == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(claims, key, algorithm=header["alg"], headers={"kid": header["kid"]})
    assert gw.curl(f"/app/{marker}", token=forged).status == 401
    assert not upstream.saw(marker)


def test_garbage_tokens_get_401(gw: Seawall, upstream: Upstream, marker: str) -> None:
    garbage = [
        "garbage",
        "a.b.c",
        "....",
        "eyJhbGciOiJFZERTQSJ9",
        "eyJhbGciOiJFZERTQSJ9.e30.",
        "eyJ" + "A" * 5000,
        "%00%ff",
        "\u00e9t\u00e9",
    ]
    for t in garbage:
        r = gw.curl(f"/app/{marker}", token=t)
        assert r.status == 401, (t[:40], r.status, r.body)
    for raw in ("Authorization: Bearer", "Authorization: Basic YWxpY2U6cHc=",
                "Authorization: Bearer  two  spaces", "Authorization: bearer"):
        assert gw.curl(f"/app/{marker}", raw_headers=[raw]).status == 401, raw
    assert not upstream.saw(marker)
    assert gw.alive()


# ---------------------------------------------------------------------------------------------
# 403: denied by policy, and never forwarded


def test_a_user_in_the_wrong_group_gets_403_and_the_upstream_never_sees_it(
        gw: Seawall, upstream: Upstream, bob_token: str, marker: str) -> None:
    r = gw.curl(f"/app/{marker}", token=bob_token)
    assert r.status == 403, r.body
    assert r.body.startswith("denied: "), r.body
    # The same user on a route it may use is let through: the token itself is fine.
    assert gw.curl(f"/open/{marker}-control", token=bob_token).status == 200
    assert upstream.saw(f"{marker}-control")
    assert not upstream.saw(f"/app/{marker}")


def test_a_blocked_country_gets_403(gw: Seawall, upstream: Upstream, alice_token: str,
                                    marker: str) -> None:
    # 127.0.0.1 is a trusted proxy; it reports the client's address in X-Forwarded-For.
    r = gw.curl(f"/app/{marker}-kp", token=alice_token,
                headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status == 403, r.body
    assert r.body.startswith("denied: ")
    r = gw.curl(f"/app/{marker}-nl", token=alice_token,
                headers={"X-Forwarded-For": "198.51.100.9"})
    assert r.status == 200, r.body
    assert upstream.saw(f"{marker}-nl")
    assert not upstream.saw(f"{marker}-kp")


def test_an_unknown_device_gets_403_where_a_device_is_required(
        gw: Seawall, upstream: Upstream, alice_token: str, marker: str) -> None:
    r = gw.curl(f"/device/{marker}", token=alice_token)
    assert r.status == 403, r.body
    assert r.body.startswith("denied: ")
    assert not upstream.saw(marker)


def test_a_method_the_policy_does_not_cover_is_still_decided(
        gw: Seawall, upstream: Upstream, bob_token: str, marker: str) -> None:
    for method in ("POST", "DELETE", "PUT"):
        r = gw.curl(f"/app/{marker}", token=bob_token, method=method)
        assert r.status == 403, (method, r.body)
    assert not upstream.saw(marker)


# ---------------------------------------------------------------------------------------------
# What reaches the upstream


def test_client_sent_identity_headers_never_reach_the_upstream(
        gw: Seawall, upstream: Upstream, alice_token: str, bob_token: str, marker: str) -> None:
    # Bob's request yields a genuine assertion; Alice then tries to pass it off as her own.
    assert gw.curl(f"/open/{marker}-bob", token=bob_token).status == 200
    bobs = upstream.requests_with(f"{marker}-bob")[0]
    bob_assertion = header_values(bobs, "X-Seawall-Assertion")[0]

    r = gw.curl(
        f"/app/{marker}",
        token=alice_token,
        headers={
            "X-Forwarded-User": "mallory",
            "X-Forwarded-Groups": "admins",
            "X-Seawall-Assertion": bob_assertion,
            "X-Seawall-Anything": "spoof",
            "Forwarded": "for=198.51.100.1;by=evil",
        },
    )
    assert r.status == 200, r.body
    seen = upstream.requests_with(f"/app/{marker}")
    assert len(seen) == 1
    seen = seen[0]
    users = header_values(seen, "X-Forwarded-User")
    assert users and "mallory" not in users and len(users) == 1, users
    assert "admins" not in ",".join(header_values(seen, "X-Forwarded-Groups"))
    assertions = header_values(seen, "X-Seawall-Assertion")
    assert len(assertions) == 1 and assertions[0] != bob_assertion
    assert header_values(seen, "X-Seawall-Anything") == []
    assert all("evil" not in v for v in header_values(seen, "Forwarded"))


def test_the_upstream_can_verify_the_identity_assertion(
        gw: Seawall, upstream: Upstream, alice_token: str, marker: str) -> None:
    assert gw.curl(f"/app/{marker}", token=alice_token).status == 200
    seen = upstream.requests_with(marker)[0]
    (assertion,) = header_values(seen, "X-Seawall-Assertion")
    client = jwt.PyJWKClient(f"{gw.gateway_url}/.seawall/assertion-jwks.json",
                             ssl_context=gw.ssl_context())
    key = client.get_signing_key_from_jwt(assertion)
    claims = jwt.decode(assertion, key=key, algorithms=["EdDSA", "ES256"], audience="app")
    alice = jwt.decode(alice_token, options={"verify_signature": False})
    assert claims["sub"] == alice["sub"]
    assert claims["exp"] - claims["iat"] <= 300
    assert claims["exp"] > time.time()
    # Small even for users in many groups.
    assert len(assertion) < 2048
    # The same assertion is not valid for another route.
    try:
        jwt.decode(assertion, key=key, algorithms=["EdDSA", "ES256"], audience="open")
    except jwt.InvalidAudienceError:
        pass
    else:
        raise AssertionError("the assertion for route `app` is accepted for route `open`")
    # Nor is it an access token at the gateway.
    assert gw.curl(f"/app/{marker}-replay", token=assertion).status == 401
    assert not upstream.saw(f"{marker}-replay")


def test_unknown_routes_get_404(gw: Seawall, upstream: Upstream, alice_token: str,
                                marker: str) -> None:
    for path in (f"/{marker}", f"/application/{marker}", f"/apple/{marker}", "/"):
        r = gw.curl(path, token=alice_token)
        assert r.status == 404, (path, r.status, r.body)
    assert not upstream.saw(marker)


# ---------------------------------------------------------------------------------------------
# WebSocket


def test_a_websocket_upgrade_is_proxied_for_an_allowed_user(
        gw: Seawall, upstream: Upstream, alice_token: str, marker: str) -> None:
    ws = websocket.create_connection(
        f"wss://127.0.0.1:{gw.gateway_port}/app/{marker}/ws",
        header=[f"Authorization: Bearer {alice_token}"],
        sslopt={"ca_certs": str(gw.cert)}, timeout=15)
    try:
        ws.send("hello through seawall")
        assert ws.recv() == "echo: hello through seawall"
    finally:
        ws.close()
    seen = upstream.requests_with(marker)
    assert [s["method"] for s in seen] == ["WEBSOCKET"]
    assert header_values(seen[0], "X-Forwarded-User")


def test_a_websocket_upgrade_is_refused_without_a_token_or_by_policy(
        gw: Seawall, upstream: Upstream, bob_token: str, marker: str) -> None:
    url = f"wss://127.0.0.1:{gw.gateway_port}/app/{marker}/ws"
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(url, sslopt={"ca_certs": str(gw.cert)}, timeout=15)
    assert e.value.status_code == 401
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(url, header=[f"Authorization: Bearer {bob_token}"],
                                    sslopt={"ca_certs": str(gw.cert)}, timeout=15)
    assert e.value.status_code == 403
    assert not upstream.saw(marker)
