//! The posture assertion verifier must refuse any input without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_policy::device::PostureVerifier;

// A fixed trusted key (the public half of the seed [1; 32]); fuzzed input is never signed by it
// except by chance, so this exercises the parsing that comes before and after verification.
const TRUSTED: &str = "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let verifier = PostureVerifier::new(&[TRUSTED]).unwrap_or_default();
    let _ = verifier.verify(text, 1_719_837_000);
});
