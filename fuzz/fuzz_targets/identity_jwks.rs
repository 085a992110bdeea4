//! A JWKS document from the network must be parsed or refused without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_identity::{Jwks, Verifier};

fuzz_target!(|data: &[u8]| {
    let Ok(jwks) = serde_json::from_slice::<Jwks>(data) else {
        return;
    };
    let v = Verifier::new("https://idp.test", "seawall");
    let _ = v.set_jwks(&jwks);
    let _ = v.verify_access("e30.e30.AAAA", 0);
});
