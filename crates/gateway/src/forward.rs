//! What the upstream receives: the client's request, cleaned, plus the identity headers.
//!
//! Anything the client could use to impersonate the gateway is removed first: every
//! `X-Forwarded-*`, `Forwarded` (RFC 7239) and `X-Seawall-*` header, the configured assertion
//! and posture headers, the hop-by-hop headers of RFC 9110 §7.6.1 (and those the `Connection`
//! header names), and the gateway's own session cookie. Only then are the gateway's headers
//! added, so a client-sent copy can never survive.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::header::{AUTHORIZATION, CONNECTION, COOKIE, HOST, TE, TRAILER, TRANSFER_ENCODING};
use http::header::{PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, UPGRADE};
use std::net::IpAddr;

use crate::redirect::without_cookie;

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [HeaderName; 7] = [
    CONNECTION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
];

/// What the identity headers say.
#[derive(Debug)]
pub(crate) struct Identity<'a> {
    pub user: &'a str,
    pub groups: &'a [String],
    pub assertion: &'a str,
}

/// Names the gateway owns (in lower case), configured per deployment.
#[derive(Debug, Clone)]
pub(crate) struct OwnedHeaders {
    pub assertion: HeaderName,
    pub posture: HeaderName,
    pub cookie_name: String,
}

/// Removes everything the client must not be able to send upstream. `websocket` keeps the
/// `Connection: upgrade` and `Upgrade` pair that the upgrade needs.
pub(crate) fn strip_request(
    headers: &mut HeaderMap,
    owned: &OwnedHeaders,
    websocket: bool,
    drop_authorization: bool,
) {
    strip_hop_by_hop(headers);
    // Underscores count as dashes: CGI-style frameworks (PHP, Rack, WSGI) map both to the same
    // variable, so `X_Forwarded_User` would reach them as `X-Forwarded-User`.
    let spoofable: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let n = name.as_str().replace('_', "-");
            n.starts_with("x-forwarded-")
                || n.starts_with("x-seawall-")
                || n == "forwarded"
                || n == "x-real-ip"
                || n == "x-client-ip"
                || n == owned.assertion.as_str()
                || n == owned.posture.as_str()
        })
        .cloned()
        .collect();
    for name in spoofable {
        headers.remove(name);
    }
    headers.remove(&owned.assertion);
    headers.remove(&owned.posture);
    headers.remove(HOST);
    if drop_authorization {
        headers.remove(AUTHORIZATION);
    }
    strip_session_cookie(headers, &owned.cookie_name);
    if websocket {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    }
}

/// Removes the hop-by-hop headers, and the headers the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

fn strip_session_cookie(headers: &mut HeaderMap, cookie_name: &str) {
    let cookies: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| without_cookie(v, cookie_name))
        .collect();
    headers.remove(COOKIE);
    // HTTP/2 may split cookies over several fields (RFC 9113 §8.2.3); HTTP/1.1 upstreams want
    // one field.
    if !cookies.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&cookies.join("; ")) {
            headers.insert(COOKIE, v);
        }
    }
}

/// Adds `X-Forwarded-*`, the user headers and the assertion.
pub(crate) fn add_identity(
    headers: &mut HeaderMap,
    owned: &OwnedHeaders,
    forwarded_for: &str,
    proto: &'static str,
    host: &str,
    who: &Identity<'_>,
) {
    let mut put = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put(HeaderName::from_static("x-forwarded-for"), forwarded_for);
    put(HeaderName::from_static("x-forwarded-proto"), proto);
    put(HeaderName::from_static("x-forwarded-host"), host);
    put(HeaderName::from_static("x-forwarded-user"), who.user);
    put(
        HeaderName::from_static("x-forwarded-groups"),
        &who.groups.join(","),
    );
    put(owned.assertion.clone(), who.assertion);
}

/// The `X-Forwarded-For` value to send: the trusted chain the client came through, then the
/// TCP peer; or the peer alone when the peer is not a trusted proxy.
pub(crate) fn forwarded_for(incoming: Option<&str>, peer: IpAddr, trusted: bool) -> String {
    match incoming {
        Some(chain) if trusted && !chain.trim().is_empty() => format!("{}, {peer}", chain.trim()),
        _ => peer.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned() -> OwnedHeaders {
        OwnedHeaders {
            assertion: HeaderName::from_static("x-seawall-assertion"),
            posture: HeaderName::from_static("x-device-posture"),
            cookie_name: "seawall_session".into(),
        }
    }

    #[test]
    fn spoofed_identity_headers_are_removed_before_ours_are_added() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-forwarded-user", "root"),
            ("x-forwarded-groups", "admins"),
            ("x-forwarded-for", "1.2.3.4"),
            ("forwarded", "for=1.2.3.4"),
            ("x-seawall-assertion", "forged"),
            ("x-seawall-anything", "x"),
            ("x_forwarded_user", "root"),
            ("x-seawall_assertion", "forged"),
            ("x-real-ip", "1.2.3.4"),
            ("x-device-posture", "forged"),
            ("connection", "close, x-private"),
            ("x-private", "hop"),
            ("cookie", "a=1; seawall_session=secret"),
            ("accept", "text/plain"),
        ] {
            h.append(k, HeaderValue::from_static(v));
        }
        strip_request(&mut h, &owned(), false, true);
        for gone in [
            "x-forwarded-user",
            "x-forwarded-for",
            "forwarded",
            "x-private",
        ] {
            assert!(!h.contains_key(gone), "{gone}");
        }
        assert!(!h.contains_key("x-seawall-anything"));
        for gone in ["x_forwarded_user", "x-seawall_assertion", "x-real-ip"] {
            assert!(!h.contains_key(gone), "{gone}");
        }
        assert!(!h.contains_key("x-device-posture"));
        assert_eq!(h["cookie"], "a=1");
        assert_eq!(h["accept"], "text/plain");
        let who = Identity {
            user: "alice",
            groups: &["eng".to_string()],
            assertion: "jwt",
        };
        add_identity(&mut h, &owned(), "9.9.9.9", "https", "app", &who);
        assert_eq!(h["x-forwarded-user"], "alice");
        assert_eq!(h.get_all("x-forwarded-user").iter().count(), 1);
        assert_eq!(h["x-seawall-assertion"], "jwt");
    }

    #[test]
    fn forwarded_for_keeps_the_chain_only_from_trusted_peers() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            forwarded_for(Some("1.1.1.1"), peer, true),
            "1.1.1.1, 10.0.0.1"
        );
        assert_eq!(forwarded_for(Some("1.1.1.1"), peer, false), "10.0.0.1");
    }
}
