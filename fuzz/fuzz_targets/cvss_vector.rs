//! Fuzz the CVSS vector parser: never a panic, and every score is within 0.0..=10.0.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_supply::cvss::Cvss;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cvss) = Cvss::parse(text) {
        assert!((0.0..=10.0).contains(&cvss.score), "{text}: {}", cvss.score);
    }
});
