//! Arbitrary text as a configuration file: every problem must be a one-line error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let Ok(mut f) = tempfile::NamedTempFile::new() else {
        return;
    };
    if f.write_all(data).is_err() {
        return;
    }
    if let Err(e) = seawall_core::config::Config::load_with_env(Some(f.path()), &[]) {
        assert!(!e.to_string().contains('\n'));
    }
});
