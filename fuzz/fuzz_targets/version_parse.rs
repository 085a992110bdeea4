//! Fuzz every version scheme's parser and comparison: never a panic, and ordering is
//! antisymmetric.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_supply::version::Scheme;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (a, b) = text.split_once('\n').unwrap_or((text, "1.0.0"));
    for scheme in [
        Scheme::SemVer,
        Scheme::Go,
        Scheme::Pep440,
        Scheme::RubyGems,
        Scheme::Composer,
        Scheme::Maven,
        Scheme::NuGet,
    ] {
        if let (Ok(x), Ok(y)) = (scheme.parse(a), scheme.parse(b)) {
            assert_eq!(x.cmp(&y), y.cmp(&x).reverse(), "{scheme:?}: {a:?} vs {b:?}");
        }
    }
});
