//! Feeds arbitrary lines to the audit chain verifier: an exported log is untrusted input, and
//! `seawall audit-log verify --file` must report on it, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = seawall_audit::verify(text.lines());
});
