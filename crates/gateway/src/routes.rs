//! The route table: which upstream a request goes to.
//!
//! A route matches a host (exactly, case-insensitively, or any host for `*`) and a path prefix
//! on a segment boundary: `/app` matches `/app` and `/app/x` but not `/apple`. Among the
//! matching routes the one with the longest prefix wins, and an exact host beats `*`.

use hyper::Uri;
use seawall_core::config::RouteConfig;
use std::path::PathBuf;
use std::sync::Arc;

/// Why a route could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("route `{route}`: upstream `{upstream}` is not an http:// or https:// URL")]
    BadUpstream { route: String, upstream: String },
    #[error("route `{route}`: path prefix `{prefix}` must start with `/`")]
    BadPrefix { route: String, prefix: String },
}

/// One compiled route.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    /// Lower-case host, `None` for any.
    pub host: Option<String>,
    /// Normalised prefix without a trailing `/` (the root is the empty string).
    prefix: String,
    pub upstream_scheme: http::uri::Scheme,
    pub upstream_authority: http::uri::Authority,
    /// Path of the upstream URL without a trailing `/`, prepended to forwarded paths.
    upstream_base: String,
    pub upstream_ca: Option<PathBuf>,
    pub strip_prefix: bool,
}

impl Route {
    /// Compiles one configured route.
    pub fn new(cfg: &RouteConfig) -> Result<Self, RouteError> {
        let bad = || RouteError::BadUpstream {
            route: cfg.name.clone(),
            upstream: cfg.upstream.clone(),
        };
        let uri: Uri = cfg.upstream.parse().map_err(|_| bad())?;
        let scheme = uri.scheme().cloned().ok_or_else(bad)?;
        if scheme != http::uri::Scheme::HTTP && scheme != http::uri::Scheme::HTTPS {
            return Err(bad());
        }
        let authority = uri.authority().cloned().ok_or_else(bad)?;
        if !cfg.path_prefix.starts_with('/') {
            return Err(RouteError::BadPrefix {
                route: cfg.name.clone(),
                prefix: cfg.path_prefix.clone(),
            });
        }
        let host = cfg
            .host
            .as_deref()
            .filter(|h| *h != "*" && !h.is_empty())
            .map(str::to_ascii_lowercase);
        Ok(Self {
            name: cfg.name.clone(),
            host,
            prefix: cfg.path_prefix.trim_end_matches('/').to_string(),
            upstream_scheme: scheme,
            upstream_authority: authority,
            upstream_base: uri.path().trim_end_matches('/').to_string(),
            upstream_ca: cfg.upstream_ca.clone(),
            strip_prefix: cfg.strip_prefix,
        })
    }

    fn matches_path(&self, path: &str) -> bool {
        match path.strip_prefix(self.prefix.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    /// The upstream URI for a request path and query.
    pub fn upstream_uri(&self, path: &str, query: Option<&str>) -> Result<Uri, http::Error> {
        let mut p = if self.strip_prefix {
            path.strip_prefix(self.prefix.as_str()).unwrap_or(path)
        } else {
            path
        };
        if p.is_empty() {
            p = "/";
        }
        let mut pq = String::with_capacity(self.upstream_base.len() + p.len() + 16);
        pq.push_str(&self.upstream_base);
        pq.push_str(p);
        if let Some(q) = query {
            pq.push('?');
            pq.push_str(q);
        }
        Uri::builder()
            .scheme(self.upstream_scheme.clone())
            .authority(self.upstream_authority.clone())
            .path_and_query(pq)
            .build()
    }
}

/// All routes, in match order.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Arc<Route>>,
}

impl RouteTable {
    /// Compiles the configured routes.
    pub fn new(configs: &[RouteConfig]) -> Result<Self, RouteError> {
        let mut routes = configs
            .iter()
            .map(|c| Route::new(c).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        // Most specific first: longer prefix, then exact host before any host.
        routes.sort_by(|a, b| {
            b.prefix
                .len()
                .cmp(&a.prefix.len())
                .then(b.host.is_some().cmp(&a.host.is_some()))
        });
        Ok(Self { routes })
    }

    /// The route for a host (without port) and path, if any.
    pub fn find(&self, host: &str, path: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| {
            r.matches_path(path)
                && r.host
                    .as_deref()
                    .is_none_or(|h| h.eq_ignore_ascii_case(host))
        })
    }

    /// The route with this name.
    pub fn named(&self, name: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| r.name == name)
    }

    /// Every route.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.iter()
    }
}

/// The host of a `Host` header or authority, lower-cased, without port or IPv6 brackets.
pub fn host_without_port(authority: &str) -> String {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, host: Option<&str>, prefix: &str, strip: bool) -> RouteConfig {
        RouteConfig {
            name: name.into(),
            host: host.map(Into::into),
            path_prefix: prefix.into(),
            upstream: format!("http://127.0.0.1:1/{name}"),
            upstream_ca: None,
            strip_prefix: strip,
        }
    }

    #[test]
    fn longest_prefix_on_a_segment_boundary_wins() {
        let t = RouteTable::new(&[
            route("root", None, "/", false),
            route("app", None, "/app", false),
            route("api", None, "/app/api/", false),
        ])
        .unwrap();
        let name = |p: &str| t.find("x", p).map(|r| r.name.clone());
        assert_eq!(name("/app").as_deref(), Some("app"));
        assert_eq!(name("/app/x").as_deref(), Some("app"));
        assert_eq!(name("/apple").as_deref(), Some("root"));
        assert_eq!(name("/app/api").as_deref(), Some("api"));
        assert_eq!(name("/app/api/v1").as_deref(), Some("api"));
    }

    #[test]
    fn exact_host_beats_any_host_and_unknown_host_has_no_route() {
        let t = RouteTable::new(&[
            route("any", Some("*"), "/x", false),
            route("a", Some("A.example"), "/x", false),
            route("b", Some("b.example"), "/", false),
        ])
        .unwrap();
        assert_eq!(t.find("a.example", "/x").unwrap().name, "a");
        assert_eq!(t.find("c.example", "/x").unwrap().name, "any");
        assert!(t.find("c.example", "/y").is_none());
    }

    #[test]
    fn strip_prefix_and_upstream_base_path_are_applied() {
        let r = Route::new(&route("app", None, "/app", true)).unwrap();
        assert_eq!(
            r.upstream_uri("/app/x", Some("q=1")).unwrap().to_string(),
            "http://127.0.0.1:1/app/x?q=1"
        );
        assert_eq!(
            r.upstream_uri("/app", None).unwrap().to_string(),
            "http://127.0.0.1:1/app/"
        );
        let keep = Route::new(&route("k", None, "/app", false)).unwrap();
        assert_eq!(
            keep.upstream_uri("/app/x", None).unwrap().path(),
            "/k/app/x"
        );
    }

    #[test]
    fn bad_upstream_is_refused_with_its_name() {
        let mut c = route("bad", None, "/", false);
        c.upstream = "ftp://x".into();
        let err = Route::new(&c).unwrap_err().to_string();
        assert!(err.contains("`ftp://x`"), "{err}");
    }

    #[test]
    fn host_port_and_brackets_are_removed() {
        assert_eq!(host_without_port("Example.COM:8443"), "example.com");
        assert_eq!(host_without_port("[::1]:80"), "::1");
        assert_eq!(host_without_port("localhost"), "localhost");
    }
}
