//! The token verifier must refuse any input without panicking, as an access token and as a
//! session token, whatever its header names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_identity::{Jwk, Jwks, Verifier};
use std::sync::OnceLock;

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let v = Verifier::new("https://idp.test", "seawall");
        // Public example keys: RFC 8037 appendix A.2 (Ed25519) and RFC 7515 appendix A.3
        // (P-256). Fuzzed input is never signed by them except by chance, so this exercises
        // everything before and around signature verification.
        let keys = vec![
            Jwk {
                kty: "OKP".into(),
                crv: Some("Ed25519".into()),
                x: Some("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into()),
                y: None,
                kid: "ed".into(),
                alg: Some("EdDSA".into()),
                use_: Some("sig".into()),
            },
            Jwk {
                kty: "EC".into(),
                crv: Some("P-256".into()),
                x: Some("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU".into()),
                y: Some("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0".into()),
                kid: "ec".into(),
                alg: Some("ES256".into()),
                use_: Some("sig".into()),
            },
        ];
        let _ = v.set_jwks(&Jwks { keys });
        v
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let v = verifier();
    assert!(v.verify_access(token, 1_700_000_000).is_err());
    assert!(v.verify_session(token, 1_700_000_000).is_err());
});
