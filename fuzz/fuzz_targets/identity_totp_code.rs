//! Checking a typed TOTP code must never panic, whatever the code, time or last used step.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_identity::totp;

fuzz_target!(|input: (&str, i64, i64)| {
    let (code, now, last) = input;
    let _ = totp::check(b"12345678901234567890", code, now, last);
});
