//! Device identity from certificates and posture from signed agent assertions.

use std::path::PathBuf;

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use seawall_policy::device::{
    device_from_certificate, CertDevice, DeviceError, DeviceFacts, Posture, PostureClaims,
    PostureSource, PostureVerifier,
};

const NOW: i64 = 1_719_837_000;

fn cert(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/device")
        .join(name);
    std::fs::read(path).unwrap()
}

/// A test agent key, derived from a fixed seed.
fn agent(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn public_b64(key: &SigningKey) -> String {
    URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes())
}

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

/// A compact JWS of `header` and `claims`, signed by `key`.
fn jws(key: &SigningKey, header: &str, claims: &str) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let signature = key.sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

fn claims(posture: &str, iat: i64, exp: i64) -> String {
    format!(r#"{{"device_id":"dev-1234","posture":"{posture}","iat":{iat},"exp":{exp}}}"#)
}

const EDDSA: &str = r#"{"alg":"EdDSA","typ":"JWT"}"#;

fn verifier() -> PostureVerifier {
    PostureVerifier::new(&[public_b64(&agent(1)), public_b64(&agent(2))]).unwrap()
}

#[test]
fn uri_san_names_the_device_and_ou_claims_posture() {
    let device = device_from_certificate(&cert("san-device-compliant.der")).unwrap();
    assert_eq!(
        device,
        CertDevice {
            id: "dev-1234".into(),
            posture: Posture::Compliant
        }
    );
}

#[test]
fn spiffe_uri_is_kept_whole_and_no_claim_means_unknown() {
    let device = device_from_certificate(&cert("san-spiffe-no-posture.der")).unwrap();
    assert_eq!(device.id, "spiffe://corp.example/device/abc");
    assert_eq!(device.posture, Posture::Unknown);
}

#[test]
fn common_name_names_the_device_without_uri_san() {
    let device = device_from_certificate(&cert("cn-noncompliant.der")).unwrap();
    assert_eq!(
        device,
        CertDevice {
            id: "kiosk-7".into(),
            posture: Posture::Noncompliant
        }
    );
}

#[test]
fn certificate_without_any_name_is_refused() {
    assert_eq!(
        device_from_certificate(&cert("no-name.der")),
        Err(DeviceError::NoDeviceId)
    );
}

#[test]
fn malformed_certificates_are_refused() {
    let good = cert("san-device-compliant.der");
    for bytes in [
        &[][..],
        b"-----BEGIN CERTIFICATE-----",
        &good[..good.len() - 1],
        &good[1..],
    ] {
        assert!(matches!(
            device_from_certificate(bytes),
            Err(DeviceError::BadCertificate(_))
        ));
    }
    for position in 0..good.len() {
        let mut bytes = good.clone();
        bytes[position] ^= 0xFF;
        let _ = device_from_certificate(&bytes);
    }
}

#[test]
fn valid_assertion_from_any_trusted_agent_is_accepted() {
    for seed in [1, 2] {
        let token = jws(
            &agent(seed),
            EDDSA,
            &claims("compliant", NOW - 10, NOW + 300),
        );
        let got = verifier().verify(&token, NOW).unwrap();
        assert_eq!(
            got,
            PostureClaims {
                device_id: "dev-1234".into(),
                posture: Posture::Compliant,
                iat: NOW - 10,
                exp: NOW + 300,
            }
        );
    }
}

#[test]
fn assertion_from_an_untrusted_key_is_refused() {
    let token = jws(&agent(3), EDDSA, &claims("compliant", NOW, NOW + 300));
    assert_eq!(
        verifier().verify(&token, NOW),
        Err(DeviceError::BadSignature)
    );
    // No trusted keys at all: nothing verifies.
    let none = PostureVerifier::new::<&str>(&[]).unwrap();
    let token = jws(&agent(1), EDDSA, &claims("compliant", NOW, NOW + 300));
    assert_eq!(none.verify(&token, NOW), Err(DeviceError::BadSignature));
}

#[test]
fn tampered_claims_are_refused() {
    let token = jws(&agent(1), EDDSA, &claims("noncompliant", NOW, NOW + 300));
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(&claims("compliant", NOW, NOW + 300)),
        parts[2]
    );
    assert_eq!(
        verifier().verify(&forged, NOW),
        Err(DeviceError::BadSignature)
    );
}

#[test]
fn other_algorithms_are_refused_before_the_signature() {
    for alg in ["none", "HS256", "RS256", "ES256", "eddsa", "Ed25519"] {
        let header = format!(r#"{{"alg":"{alg}"}}"#);
        let token = jws(&agent(1), &header, &claims("compliant", NOW, NOW + 300));
        assert_eq!(
            verifier().verify(&token, NOW),
            Err(DeviceError::UnsupportedAlgorithm(alg.into())),
            "{alg}"
        );
    }
    let unsigned = format!(
        "{}.{}.",
        b64(r#"{"alg":"none"}"#),
        b64(&claims("compliant", NOW, NOW))
    );
    assert!(matches!(
        verifier().verify(&unsigned, NOW),
        Err(DeviceError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn expiry_allows_thirty_seconds_of_skew() {
    let token = jws(&agent(1), EDDSA, &claims("compliant", NOW - 600, NOW - 30));
    assert!(verifier().verify(&token, NOW).is_ok());
    let token = jws(&agent(1), EDDSA, &claims("compliant", NOW - 600, NOW - 31));
    assert_eq!(
        verifier().verify(&token, NOW),
        Err(DeviceError::Expired { exp: NOW - 31 })
    );
    let token = jws(&agent(1), EDDSA, &claims("compliant", NOW + 30, NOW + 300));
    assert!(verifier().verify(&token, NOW).is_ok());
    let token = jws(&agent(1), EDDSA, &claims("compliant", NOW + 31, NOW + 300));
    assert_eq!(
        verifier().verify(&token, NOW),
        Err(DeviceError::NotYetValid { iat: NOW + 31 })
    );
}

#[test]
fn malformed_assertions_are_refused() {
    let key = agent(1);
    let good = jws(&key, EDDSA, &claims("compliant", NOW, NOW + 300));
    let parts: Vec<&str> = good.split('.').collect();
    let malformed = [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        format!("{good}.extra"),
        format!("{}.{}", parts[0], parts[1]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE.encode([0u8; 64]) + "=="
        ),
        format!("{}.{}.{}", parts[0], parts[1], &parts[2][..20]),
        format!("{}.{}.{}", b64("[]"), parts[1], parts[2]),
        format!("{}.{}.{}", b64("{}"), parts[1], parts[2]),
        format!("*.{}.{}", parts[1], parts[2]),
        jws(
            &key,
            r#"{"alg":"EdDSA","crit":["exp"]}"#,
            &claims("compliant", NOW, NOW + 300),
        ),
        jws(&key, EDDSA, &claims("perfect", NOW, NOW + 300)),
        jws(
            &key,
            EDDSA,
            r#"{"device_id":"dev-1234","posture":"compliant","iat":1}"#,
        ),
        jws(
            &key,
            EDDSA,
            r#"{"device_id":"","posture":"compliant","iat":1,"exp":2}"#,
        ),
        jws(
            &key,
            EDDSA,
            &format!(r#"{{"device_id":"d","posture":"compliant","iat":{NOW},"exp":1.5}}"#),
        ),
        jws(&key, EDDSA, &claims("compliant", NOW + 10, NOW)),
        jws(&key, EDDSA, "not json"),
        "a".repeat(5000),
    ];
    for token in malformed {
        let result = verifier().verify(&token, NOW);
        assert!(result.is_err(), "accepted: {token}");
    }
    let too_long = "a".repeat(5000);
    assert_eq!(
        verifier().verify(&too_long, NOW),
        Err(DeviceError::TooLarge)
    );
}

#[test]
fn bad_agent_keys_are_refused_at_configuration() {
    for key in [
        "",
        "not base64!",
        &URL_SAFE_NO_PAD.encode([7u8; 31]),
        &URL_SAFE_NO_PAD.encode([7u8; 33]),
    ] {
        assert!(
            matches!(
                PostureVerifier::new(&[key]),
                Err(DeviceError::BadAgentKey(_))
            ),
            "{key}"
        );
    }
}

#[test]
fn facts_combine_certificate_and_assertion() {
    let cert = CertDevice {
        id: "dev-1234".into(),
        posture: Posture::Unknown,
    };
    let agent_says = PostureClaims {
        device_id: "dev-1234".into(),
        posture: Posture::Compliant,
        iat: NOW,
        exp: NOW + 60,
    };
    let both = DeviceFacts::resolve(Some(&cert), Some(&agent_says));
    assert_eq!(
        (both.posture, both.source),
        (Posture::Compliant, PostureSource::Agent)
    );

    // An assertion about another device is ignored.
    let other = PostureClaims {
        device_id: "dev-9".into(),
        ..agent_says.clone()
    };
    let mixed = DeviceFacts::resolve(Some(&cert), Some(&other));
    assert_eq!(mixed.id.as_deref(), Some("dev-1234"));
    assert_eq!(
        (mixed.posture, mixed.source),
        (Posture::Unknown, PostureSource::Certificate)
    );

    let agent_only = DeviceFacts::resolve(None, Some(&agent_says));
    assert_eq!(agent_only.source, PostureSource::Agent);
    let nothing = DeviceFacts::resolve(None, None);
    assert_eq!(
        nothing,
        DeviceFacts {
            id: None,
            posture: Posture::Unknown,
            source: PostureSource::None
        }
    );
}
