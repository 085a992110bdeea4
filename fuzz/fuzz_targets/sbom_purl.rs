//! Package URL parsing: never a panic, and what parses prints back to a purl that parses to
//! the same value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_supply::purl::Purl;

fuzz_target!(|text: &str| {
    if let Ok(p) = Purl::parse(text) {
        let again = Purl::parse(&p.to_string()).expect("canonical purl parses");
        assert_eq!(again, p);
    }
});
