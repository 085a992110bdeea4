//! Parsing of the two browser-supplied values the sign-in flow trusts: the `rd` return path
//! and the `Cookie` header.
//!
//! `rd` is where the browser goes after signing in. Accepting anything but a path on this
//! gateway would make the sign-in page an open redirect (CWE-601), so [`safe_return_path`]
//! accepts only an origin-relative path: one leading `/`, no `//` or `/\` (browsers read both
//! as a scheme-relative URL to another host), no backslash anywhere, no control characters,
//! and nothing that decodes to one of these.

use percent_encoding::percent_decode_str;

/// The longest `rd` accepted, in bytes.
pub const MAX_RETURN_PATH: usize = 2048;

/// Returns `rd` when it is a safe same-origin path, else `None`.
pub fn safe_return_path(rd: &str) -> Option<&str> {
    if rd.is_empty() || rd.len() > MAX_RETURN_PATH {
        return None;
    }
    // Check the raw text and its percent-decoded form (twice, for double encoding), so
    // `/%2F%2Fevil.example` and `/%252F%252Fevil.example` are refused as well.
    let once = percent_decode_str(rd).decode_utf8().ok()?;
    let twice = percent_decode_str(&once).decode_utf8().ok()?;
    for form in [rd, &once, &twice] {
        if !is_plain_path(form) {
            return None;
        }
    }
    Some(rd)
}

fn is_plain_path(s: &str) -> bool {
    let mut chars = s.chars();
    if chars.next() != Some('/') {
        return false;
    }
    if matches!(chars.next(), Some('/') | Some('\\')) {
        return false;
    }
    !s.chars()
        .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
}

/// The value of cookie `name` in a `Cookie` header (RFC 6265 §5.4: `name=value; ...`).
///
/// Malformed pairs are skipped; a value in double quotes is unquoted. Returns `None` when the
/// cookie is absent or its value is empty or not visible ASCII.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    for pair in header.split(';') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        if k.trim() != name {
            continue;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
            return None;
        }
        return Some(v);
    }
    None
}

/// Removes cookie `name` from a `Cookie` header value; `None` when nothing is left.
pub fn without_cookie(header: &str, name: &str) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|pair| {
            !pair.is_empty() && pair.split_once('=').is_none_or(|(k, _)| k.trim() != name)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// The value of query parameter `name` (percent-decoded), from a query string.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Percent-encodes a value for a query string.
pub fn encode_query_value(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_accepted() {
        for ok in ["/", "/app", "/app/page?x=1&y=2", "/a#frag", "/%7Euser"] {
            assert_eq!(safe_return_path(ok), Some(ok), "{ok}");
        }
    }

    #[test]
    fn open_redirect_bypasses_are_refused() {
        for bad in [
            "",
            "https://evil.example",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2F%2Fevil.example",
            "%2F%2Fevil.example",
            "/%252F%252Fevil.example",
            "/%5Cevil.example",
            "javascript:alert(1)",
            "evil.example",
            "/\tevil",
            "/ /evil.example",
            "/\r\nLocation: https://evil.example",
            "/%0d%0aSet-Cookie:x=1",
            "http:/evil.example",
            "/%ff",
        ] {
            assert_eq!(safe_return_path(bad), None, "{bad:?}");
        }
        assert_eq!(safe_return_path(&format!("/{}", "a".repeat(5000))), None);
    }

    #[test]
    fn cookie_is_found_among_others() {
        let h = "a=1; seawall_session=tok.en; b=2";
        assert_eq!(cookie_value(h, "seawall_session"), Some("tok.en"));
        assert_eq!(
            cookie_value("seawall_session=\"q\"", "seawall_session"),
            Some("q")
        );
        assert_eq!(cookie_value(h, "missing"), None);
    }

    #[test]
    fn malformed_cookies_are_skipped_not_fatal() {
        for h in [
            ";;;",
            "=",
            "seawall_session",
            "seawall_session=",
            "x=\u{7f}",
            "==;==",
        ] {
            assert_eq!(cookie_value(h, "seawall_session"), None, "{h:?}");
        }
        assert_eq!(cookie_value("junk; =x; s=ok", "s"), Some("ok"));
    }

    #[test]
    fn session_cookie_is_removed_and_others_kept() {
        let h = "a=1; seawall_session=secret; b=2";
        assert_eq!(
            without_cookie(h, "seawall_session").as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(without_cookie("seawall_session=x", "seawall_session"), None);
    }

    #[test]
    fn query_parameters_are_decoded() {
        assert_eq!(
            query_param("rd=%2Fa%3Fb%3D1&x=2", "rd").as_deref(),
            Some("/a?b=1")
        );
        assert_eq!(query_param("x=2", "rd"), None);
        assert_eq!(encode_query_value("/a?b=1&c"), "%2Fa%3Fb%3D1%26c");
    }
}
