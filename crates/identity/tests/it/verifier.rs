//! The verifier refuses forged, altered, misdirected and expired tokens.

use crate::common::{client, Harness};
use hmac::{Hmac, Mac};
use seawall_core::auth::{AuthError, RefreshRequest, SignInStep, Tokens};
use seawall_identity::{Jwks, Verifier};
use sha2::Sha256;
use std::time::Instant;

const B64: data_encoding::Encoding = data_encoding::BASE64URL_NOPAD;

fn signed_in() -> (Harness, Tokens) {
    let h = Harness::new();
    let (_, t) = h.enrolled("alice");
    (h, t)
}

fn verifier_for(h: &Harness, issuer: &str, audience: &str) -> Verifier {
    let v = Verifier::new(issuer, audience);
    let jwks: Jwks = serde_json::from_value(h.svc.jwks()).unwrap();
    v.set_jwks(&jwks).unwrap();
    v
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(String::from).collect()
}

fn header_of(token: &str) -> serde_json::Value {
    serde_json::from_slice(&B64.decode(segments(token)[0].as_bytes()).unwrap()).unwrap()
}

#[test]
fn alg_none_is_refused() {
    let (h, t) = signed_in();
    let s = segments(t.access_token.expose());
    let kid = header_of(t.access_token.expose())["kid"].clone();
    let header = serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": kid});
    let h64 = B64.encode(header.to_string().as_bytes());
    let v = h.svc.verifier();
    for forged in [format!("{h64}.{}.", s[1]), format!("{h64}.{}", s[1])] {
        assert_eq!(
            v.verify_access(&forged, h.now()).unwrap_err(),
            AuthError::InvalidToken
        );
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let (h, t) = signed_in();
    let s = segments(t.access_token.expose());
    let kid = header_of(t.access_token.expose())["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let jwks = h.svc.jwks();
    let jwk = jwks["keys"][0].clone();
    let raw_x = B64.decode(jwk["x"].as_str().unwrap().as_bytes()).unwrap();
    let header = serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
    let h64 = B64.encode(header.to_string().as_bytes());
    let input = format!("{h64}.{}", s[1]);
    let v = h.svc.verifier();
    for secret in [
        raw_x,
        jwk.to_string().into_bytes(),
        jwks.to_string().into_bytes(),
    ] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
        mac.update(input.as_bytes());
        let sig = B64.encode(&mac.finalize().into_bytes());
        let forged = format!("{input}.{sig}");
        assert_eq!(
            v.verify_access(&forged, h.now()).unwrap_err(),
            AuthError::InvalidToken
        );
    }
}

#[test]
fn tampered_payload_or_signature_is_refused() {
    let (h, t) = signed_in();
    let s = segments(t.access_token.expose());
    let mut claims: serde_json::Value =
        serde_json::from_slice(&B64.decode(s[1].as_bytes()).unwrap()).unwrap();
    claims["groups"] = serde_json::json!(["admin"]);
    let forged = format!(
        "{}.{}.{}",
        s[0],
        B64.encode(claims.to_string().as_bytes()),
        s[2]
    );
    let v = h.svc.verifier();
    assert_eq!(
        v.verify_access(&forged, h.now()).unwrap_err(),
        AuthError::InvalidToken
    );
    let mut sig = B64.decode(s[2].as_bytes()).unwrap();
    sig[0] ^= 1;
    let forged = format!("{}.{}.{}", s[0], s[1], B64.encode(&sig));
    assert_eq!(
        v.verify_access(&forged, h.now()).unwrap_err(),
        AuthError::InvalidToken
    );
}

#[test]
fn unknown_kid_is_refused() {
    let (h, t) = signed_in();
    let s = segments(t.access_token.expose());
    let mut header = header_of(t.access_token.expose());
    header["kid"] = "key_unknown".into();
    let forged = format!(
        "{}.{}.{}",
        B64.encode(header.to_string().as_bytes()),
        s[1],
        s[2]
    );
    assert_eq!(
        h.svc
            .verifier()
            .verify_access(&forged, h.now())
            .unwrap_err(),
        AuthError::InvalidToken
    );
}

#[test]
fn expired_token_is_refused_after_the_leeway() {
    let (h, t) = signed_in();
    let v = verifier_for(&h, "https://idp.test", "seawall");
    let now = h.now();
    // Issued 30 s ago (the enrollment step advanced the clock), valid 300 s.
    assert!(v
        .verify_access(t.access_token.expose(), now + 270 + 30)
        .is_ok());
    assert_eq!(
        v.verify_access(t.access_token.expose(), now + 270 + 31)
            .unwrap_err(),
        AuthError::Expired
    );
    // Also when the token was verified (and remembered) before.
    let fresh = verifier_for(&h, "https://idp.test", "seawall");
    assert_eq!(
        fresh
            .verify_access(t.access_token.expose(), now + 1000)
            .unwrap_err(),
        AuthError::Expired
    );
}

#[test]
fn wrong_audience_or_issuer_is_refused() {
    let (h, t) = signed_in();
    for (iss, aud) in [
        ("https://idp.test", "other"),
        ("https://evil.test", "seawall"),
    ] {
        let v = verifier_for(&h, iss, aud);
        assert_eq!(
            v.verify_access(t.access_token.expose(), h.now())
                .unwrap_err(),
            AuthError::InvalidToken,
            "{iss} {aud}"
        );
    }
}

#[test]
fn session_and_access_tokens_are_not_interchangeable() {
    let (h, t) = signed_in();
    let v = h.svc.verifier();
    // Verified once as what they are (and remembered), they are still refused as the other.
    assert!(v.verify_access(t.access_token.expose(), h.now()).is_ok());
    assert!(v.verify_session(t.session_token.expose(), h.now()).is_ok());
    assert_eq!(
        v.verify_access(t.session_token.expose(), h.now())
            .unwrap_err(),
        AuthError::InvalidToken
    );
    assert_eq!(
        v.verify_session(t.access_token.expose(), h.now())
            .unwrap_err(),
        AuthError::InvalidToken
    );
    let cold = verifier_for(&h, "https://idp.test", "seawall");
    assert!(cold
        .verify_access(t.session_token.expose(), h.now())
        .is_err());
    assert!(cold
        .verify_session(t.access_token.expose(), h.now())
        .is_err());
}

#[test]
fn garbage_tokens_are_refused_without_panicking() {
    let (h, t) = signed_in();
    let v = h.svc.verifier();
    let real = t.access_token.expose();
    let long = "a.".repeat(10_000);
    let cases = [
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        "eyJhbGciOiJFZERTQSJ9..",
        "eyJ9.eyJ9.eyJ9",
        &real[..real.len() / 2],
        &long,
        "e30.e30.",
        "bnVsbA.bnVsbA.",
        "W10.W10.",
    ];
    for c in cases {
        assert!(v.verify_access(c, h.now()).is_err(), "{c:.30}");
        assert!(v.verify_session(c, h.now()).is_err(), "{c:.30}");
    }
}

#[test]
fn jwks_with_an_unusable_key_is_refused_whole() {
    let (h, t) = signed_in();
    let v = verifier_for(&h, "https://idp.test", "seawall");
    let mut jwks: Jwks = serde_json::from_value(h.svc.jwks()).unwrap();
    jwks.keys[0].x = Some("not base64!".into());
    let err = v.set_jwks(&jwks).unwrap_err().to_string();
    assert!(err.contains(&jwks.keys[0].kid), "{err}");
    // The previous keys stay.
    assert!(v.verify_access(t.access_token.expose(), h.now()).is_ok());
}

/// Measures verification; prints, asserts nothing about time (the machine is shared).
#[test]
fn verification_speed_is_measured() {
    let (h, first) = signed_in();
    let mut tokens = vec![first.clone()];
    let mut last = first;
    for _ in 0..30 {
        let SignInStep::Done(t) = h
            .svc
            .refresh(
                &RefreshRequest {
                    refresh_token: last.refresh_token.clone(),
                },
                &client(),
            )
            .unwrap()
        else {
            panic!()
        };
        last = *t;
        tokens.push(last.clone());
    }
    let v = verifier_for(&h, "https://idp.test", "seawall");
    let now = h.now();
    let start = Instant::now();
    for t in &tokens {
        v.verify_access(t.access_token.expose(), now).unwrap();
    }
    let cold = start.elapsed() / u32::try_from(tokens.len()).unwrap();
    let n = 100_000u32;
    let token = tokens[0].access_token.expose();
    let start = Instant::now();
    for _ in 0..n {
        v.verify_access(token, now).unwrap();
    }
    let warm = start.elapsed() / n;
    println!("verify_access: first sight (signature) {cold:?}, remembered {warm:?} per call");
}
