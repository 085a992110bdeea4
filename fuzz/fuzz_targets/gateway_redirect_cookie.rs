//! The gateway's parsers of browser-supplied values: the sign-in return path `rd`, the
//! `Cookie` header and query strings. None may panic, and an accepted `rd` must be a
//! same-origin path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_gateway::redirect::{cookie_value, query_param, safe_return_path, without_cookie};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(rd) = safe_return_path(s) {
        assert!(rd.starts_with('/'));
        assert!(!rd.starts_with("//") && !rd.starts_with("/\\"));
        assert!(!rd.contains('\\'));
    }
    if let Some(v) = cookie_value(s, "seawall_session") {
        assert!(!v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic()));
    }
    if let Some(rest) = without_cookie(s, "seawall_session") {
        assert!(cookie_value(&rest, "seawall_session").is_none());
    }
    if let Some(rd) = query_param(s, "rd") {
        let _ = safe_return_path(&rd);
    }
});
