//! Connection pools to upstreams: one per distinct trust anchor (system roots, or a route's
//! `upstream_ca`), each speaking plain HTTP or TLS as the upstream URL says.

use crate::routes::{Route, RouteTable};
use crate::tls::{client_config, TlsError};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// A pooled client for proxied requests.
pub(crate) type UpstreamClient = Client<HttpsConnector<HttpConnector>, Incoming>;

/// Clients keyed by the CA file they trust (`None`: system roots).
pub(crate) struct Upstreams {
    clients: HashMap<Option<PathBuf>, UpstreamClient>,
}

impl Upstreams {
    /// One client per distinct `upstream_ca` among the routes.
    pub fn new(routes: &RouteTable) -> Result<Self, TlsError> {
        let mut clients = HashMap::new();
        for route in routes.iter() {
            if !clients.contains_key(&route.upstream_ca) {
                let client = client(route.upstream_ca.as_deref())?;
                clients.insert(route.upstream_ca.clone(), client);
            }
        }
        Ok(Self { clients })
    }

    /// The client for a route.
    pub fn for_route(&self, route: &Route) -> Option<&UpstreamClient> {
        self.clients.get(&route.upstream_ca)
    }
}

/// A pooled HTTP/1.1 client over plain TCP or rustls; `B` is the request body type.
pub(crate) fn client<B>(
    ca: Option<&std::path::Path>,
) -> Result<Client<HttpsConnector<HttpConnector>, B>, TlsError>
where
    B: hyper::body::Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config(ca)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build(connector))
}
