//! Loading arbitrary text as policy files must give an engine or diagnostics, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_policy::PolicyEngine;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Split into two files at the first NUL, to exercise cross-file checks (duplicate ids).
    let mut files = text.splitn(2, '\0');
    let first = files.next().unwrap_or_default();
    let second = files.next().unwrap_or_default();
    if let Ok(engine) = PolicyEngine::from_sources([("a.cedar", first), ("b.cedar", second)]) {
        let _ = engine.groups_mentioned();
    }
});
