//! Fuzz what `seawall scan` reads besides advisories: SBOM documents and ignore files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_supply::scan::{components_from_sbom, IgnoreFile};

fuzz_target!(|data: &[u8]| {
    let _ = components_from_sbom("fuzz.json", data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = IgnoreFile::parse("fuzz.toml", text);
        let _ = IgnoreFile::parse("fuzz.yaml", text);
    }
});
