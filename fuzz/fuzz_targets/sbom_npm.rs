//! The `NpmLock` reader on arbitrary text: data or an error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_supply::readers::{parse, FileKind};

fuzz_target!(|text: &str| {
    let _ = parse(FileKind::NpmLock, text, None);
});
