//! Forward-auth: Seawall as the decision point behind another proxy.
//!
//! nginx `auth_request`, Traefik `forwardAuth` and Caddy `forward_auth` send a sub-request to
//! `/.seawall/auth` carrying the client's credentials and describing the original request:
//! nginx with `X-Original-Method` and `X-Original-URI` (or `X-Original-URL`), Traefik and
//! Caddy with `X-Forwarded-Method`, `X-Forwarded-Proto`, `X-Forwarded-Host` and
//! `X-Forwarded-Uri`. The answer is 200 with the identity headers for the proxy to copy onto
//! the upstream request, 401 (or, with `?redirect=true`, a 302 to the sign-in page for
//! browsers; nginx cannot pass a 302 on) or 403.
//!
//! Only a peer in `gateway.trusted_proxies` may ask: the answer carries a signed assertion
//! that the upstream trusts, and the request description and client address come from headers
//! anyone could forge. Any other caller gets 403 `untrusted_caller`.

use crate::access::Verdict;
use crate::forward::OwnedHeaders;
use crate::gateway::{ConnInfo, Shared};
use crate::proxy::{is_browser, visible_groups, Check, Checked};
use crate::redirect::query_param;
use crate::respond::{self, Body};
use crate::routes::host_without_port;
use http::header::HOST;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};

/// The original request as the calling proxy describes it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Original {
    pub method: Method,
    pub host: String,
    /// Path and query.
    pub uri: String,
}

/// Answers one forward-auth sub-request.
pub(crate) fn handle<B>(shared: &Shared, conn: &ConnInfo, req: &Request<B>) -> Response<Body> {
    if !shared.is_trusted(conn.peer.ip()) {
        tracing::info!(client.ip = %conn.peer.ip(), "forward-auth from an untrusted peer refused");
        return respond::forbidden("untrusted_caller");
    }
    let headers = req.headers();
    let original = original_request(headers);
    let path = original.uri.split('?').next().unwrap_or("/").to_string();
    let routes = shared.routes.load();
    let route = routes.find(&original.host, &path).or_else(|| {
        shared
            .forward_auth_route
            .as_deref()
            .and_then(|name| routes.named(name))
    });
    let Some(route) = route.cloned() else {
        return respond::forbidden("no_route");
    };
    let check = Check {
        method: original.method.as_str(),
        route: &route,
        host: &original.host,
        path: &path,
        source: "forward_auth",
    };
    let wants_redirect = req
        .uri()
        .query()
        .and_then(|q| query_param(q, "redirect"))
        .is_some_and(|v| v == "true" || v == "1");
    let browser = wants_redirect && is_browser(&original.method, headers);
    let (principal, decision) = match check.run(shared, conn, headers) {
        Checked::Decided {
            principal,
            decision,
            ..
        } => (principal, decision),
        Checked::Unauthenticated { .. } if browser => {
            return respond::to_page("sign-in", &original.uri)
        }
        Checked::Unauthenticated { bad } => return respond::unauthorized(bad),
    };
    match decision.verdict {
        Verdict::Allow => {}
        Verdict::Deny => return respond::forbidden(&decision.reason),
        Verdict::StepUp if browser => return respond::to_page("verify", &original.uri),
        Verdict::StepUp => return respond::insufficient_authentication(),
    }
    let groups = visible_groups(shared, &principal);
    let assertion = shared
        .signer
        .assertion(&principal, &route.name, &groups, shared.clock.now());
    let mut r = respond::text(StatusCode::OK, "ok");
    identity_headers(
        r.headers_mut(),
        &shared.owned,
        &principal.username,
        &groups,
        &assertion,
    );
    r
}

fn identity_headers(
    h: &mut HeaderMap,
    owned: &OwnedHeaders,
    user: &str,
    groups: &[String],
    assertion: &str,
) {
    let mut put = |name: http::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    put(http::HeaderName::from_static("x-forwarded-user"), user);
    put(
        http::HeaderName::from_static("x-forwarded-groups"),
        &groups.join(","),
    );
    put(owned.assertion.clone(), assertion);
}

/// Reads the original request from the nginx or the Traefik/Caddy headers.
pub(crate) fn original_request(h: &HeaderMap) -> Original {
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let method = get("x-original-method")
        .or_else(|| get("x-forwarded-method"))
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .unwrap_or(Method::GET);
    let own_host = get(HOST.as_str()).unwrap_or_default();
    if let Some(url) = get("x-original-url").and_then(|u| u.parse::<Uri>().ok()) {
        if let Some(authority) = url.authority() {
            return Original {
                method,
                host: host_without_port(authority.as_str()),
                uri: path_and_query(url.path_and_query().map(|p| p.as_str())),
            };
        }
    }
    let host = get("x-forwarded-host").unwrap_or(own_host);
    let uri = get("x-original-uri").or_else(|| get("x-forwarded-uri"));
    Original {
        method,
        host: host_without_port(host),
        uri: path_and_query(uri),
    }
}

fn path_and_query(uri: Option<&str>) -> String {
    match uri {
        Some(u) if u.starts_with('/') => u.to_string(),
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn nginx_headers_describe_the_original_request() {
        let o = original_request(&headers(&[
            ("host", "gw:8000"),
            ("x-original-method", "POST"),
            ("x-original-url", "https://app.example:8443/x/y?z=1"),
        ]));
        assert_eq!(o.method, Method::POST);
        assert_eq!(o.host, "app.example");
        assert_eq!(o.uri, "/x/y?z=1");
    }

    #[test]
    fn traefik_headers_describe_the_original_request() {
        let o = original_request(&headers(&[
            ("x-forwarded-method", "DELETE"),
            ("x-forwarded-host", "App.Example"),
            ("x-forwarded-uri", "/a?b"),
        ]));
        assert_eq!(
            (o.method, o.host.as_str(), o.uri.as_str()),
            (Method::DELETE, "app.example", "/a?b")
        );
    }

    #[test]
    fn garbage_descriptions_fall_back_to_safe_defaults() {
        let o = original_request(&headers(&[
            ("x-original-method", "G E T"),
            ("x-original-uri", "http://x"),
        ]));
        assert_eq!(o.method, Method::GET);
        assert_eq!(o.uri, "/");
    }
}
