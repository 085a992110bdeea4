//! Every lockfile reader, chosen by the first byte; the rest is the file, and an optional
//! manifest follows a NUL byte. Readers must return data or an error, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_supply::readers::{parse, FileKind};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let kind = FileKind::ALL[usize::from(selector) % FileKind::ALL.len()];
    let (text, manifest) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let manifest = manifest.and_then(|m| std::str::from_utf8(m).ok());
    if let Ok(parsed) = parse(kind, text, manifest) {
        // Every edge names components that exist (or the project).
        for e in &parsed.edges {
            assert!(parsed.components.iter().any(|c| c.key() == e.to));
        }
    }
});
