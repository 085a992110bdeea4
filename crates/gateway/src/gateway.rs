//! The [`Gateway`]: its parts, its live-swappable state and its listener loop.

use crate::access::{Authenticate, Authorize, DecisionSink};
use crate::assertion::{AssertionKey, AssertionSigner};
use crate::forward::OwnedHeaders;
use crate::metrics::GatewayMetrics;
use crate::routes::{RouteError, RouteTable};
use crate::upstream::Upstreams;
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::HeaderName;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use ipnet::IpNet;
use seawall_core::auth::SignInBackend;
use seawall_core::config::{DeviceConfig, GatewayConfig, RouteConfig, SessionConfig};
use seawall_core::Clock;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How long a client has to send its request headers (slowloris defence), and to finish the
/// TLS handshake.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long open connections get to finish after shutdown is signalled.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a gateway could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("config `{key}`: `{value}` is not a valid header name")]
    HeaderName { key: &'static str, value: String },
}

/// Everything the gateway is built from.
pub struct GatewayParts {
    /// The `[gateway]` section.
    pub gateway: GatewayConfig,
    /// The `[session]` section (cookie name, lifetime).
    pub session: SessionConfig,
    /// The `[device]` section (posture header).
    pub device: DeviceConfig,
    /// The routes.
    pub routes: Vec<RouteConfig>,
    /// The gateway's public URL: the assertion issuer.
    pub public_url: String,
    /// Verifies bearer tokens and session cookies.
    pub authenticator: Arc<dyn Authenticate>,
    /// The policy engine with its context signals.
    pub authorizer: Arc<dyn Authorize>,
    /// The identity provider's sign-in steps, for the sign-in pages.
    pub sign_in: Arc<dyn SignInBackend>,
    /// The audit log.
    pub decisions: Arc<dyn DecisionSink>,
    /// The assertion signing key; `None` generates one.
    pub assertion_key: Option<AssertionKey>,
    /// Metrics from [`GatewayMetrics::register`]; `None` keeps unregistered ones.
    pub metrics: Option<GatewayMetrics>,
    /// The route forward-auth requests are decided against when none matches their URI.
    pub forward_auth_route: Option<String>,
    /// The clock (tests pass a manual one).
    pub clock: Arc<dyn Clock>,
}

/// What one TCP connection knows about its client.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
    /// The client certificate the device CA verified (DER).
    pub client_cert: Option<Bytes>,
}

/// State shared by every connection.
pub(crate) struct Shared {
    pub cfg: GatewayConfig,
    pub session: SessionConfig,
    pub owned: OwnedHeaders,
    pub routes: ArcSwap<RouteTable>,
    pub upstreams: ArcSwap<Upstreams>,
    pub authn: ArcSwap<Arc<dyn Authenticate>>,
    pub authz: ArcSwap<Arc<dyn Authorize>>,
    pub sign_in: Arc<dyn SignInBackend>,
    pub sink: Arc<dyn DecisionSink>,
    pub signer: AssertionSigner,
    pub jwks: Bytes,
    pub metrics: GatewayMetrics,
    pub clock: Arc<dyn Clock>,
    pub trusted: Vec<IpNet>,
    pub forward_auth_route: Option<String>,
}

impl Shared {
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&ip))
    }
}

/// The identity-aware proxy. Cloning shares it.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("listen", &self.shared.cfg.listen)
            .finish_non_exhaustive()
    }
}

fn header_name(key: &'static str, value: &str) -> Result<HeaderName, GatewayError> {
    HeaderName::from_bytes(value.as_bytes()).map_err(|_| GatewayError::HeaderName {
        key,
        value: value.to_string(),
    })
}

impl Gateway {
    /// Builds a gateway; fails on a bad route or header name.
    pub fn new(parts: GatewayParts) -> Result<Self, GatewayError> {
        let routes = RouteTable::new(&parts.routes)?;
        let upstreams = Upstreams::new(&routes)?;
        let owned = OwnedHeaders {
            assertion: header_name("gateway.assertion_header", &parts.gateway.assertion_header)?,
            posture: header_name("device.posture_header", &parts.device.posture_header)?,
            cookie_name: parts.session.cookie_name.clone(),
        };
        let key = parts.assertion_key.unwrap_or_else(AssertionKey::generate);
        let signer = AssertionSigner::new(key, &parts.public_url, parts.gateway.assertion_ttl_secs);
        let jwks = Bytes::from(signer.jwks().to_string());
        let shared = Shared {
            trusted: parts.gateway.trusted_proxies.clone(),
            cfg: parts.gateway,
            session: parts.session,
            owned,
            routes: ArcSwap::from_pointee(routes),
            upstreams: ArcSwap::from_pointee(upstreams),
            authn: ArcSwap::from_pointee(parts.authenticator),
            authz: ArcSwap::from_pointee(parts.authorizer),
            sign_in: parts.sign_in,
            sink: parts.decisions,
            signer,
            jwks,
            metrics: parts.metrics.unwrap_or_default(),
            clock: parts.clock,
            forward_auth_route: parts.forward_auth_route,
        };
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// Replaces the routes; requests already in flight finish on the old ones.
    pub fn set_routes(&self, routes: &[RouteConfig]) -> Result<(), GatewayError> {
        let table = RouteTable::new(routes)?;
        let upstreams = Upstreams::new(&table)?;
        self.shared.upstreams.store(Arc::new(upstreams));
        self.shared.routes.store(Arc::new(table));
        Ok(())
    }

    /// Replaces the token verifier.
    pub fn set_authenticator(&self, authn: Arc<dyn Authenticate>) {
        self.shared.authn.store(Arc::new(authn));
    }

    /// Replaces the policy engine.
    pub fn set_authorizer(&self, authz: Arc<dyn Authorize>) {
        self.shared.authz.store(Arc::new(authz));
    }

    /// The JWKS that verifies the gateway's identity assertions.
    pub fn assertion_jwks(&self) -> serde_json::Value {
        self.shared.signer.jwks()
    }

    /// Serves connections from `listener` until `shutdown` completes, then lets open
    /// connections finish (up to 10 s). With `tls`, every connection is TLS (ALPN h2 and
    /// http/1.1); without, plain HTTP/1.1 or h2c.
    pub async fn serve(
        self,
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let acceptor = tls.map(TlsAcceptor::from);
        let builder = Arc::new(self.connection_builder());
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = tcp.set_nodelay(true);
            let this = self.clone();
            let acceptor = acceptor.clone();
            let builder = builder.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                match acceptor {
                    None => {
                        let conn = ConnInfo {
                            peer,
                            tls: false,
                            client_cert: None,
                        };
                        this.serve_io(&builder, watcher, TokioIo::new(tcp), conn)
                            .await;
                    }
                    Some(acceptor) => {
                        let handshake =
                            tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(tcp));
                        let Ok(Ok(stream)) = handshake.await else {
                            tracing::debug!(client.ip = %peer.ip(), "tls handshake failed");
                            return;
                        };
                        let client_cert = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .map(|c| Bytes::copy_from_slice(c.as_ref()));
                        let conn = ConnInfo {
                            peer,
                            tls: true,
                            client_cert,
                        };
                        this.serve_io(&builder, watcher, TokioIo::new(stream), conn)
                            .await;
                    }
                }
            });
        }
        drop(listener);
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
        Ok(())
    }

    fn connection_builder(&self) -> auto::Builder<TokioExecutor> {
        let max_header = self.shared.cfg.max_header_bytes;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            // hyper answers 431 itself when the header block outgrows its read buffer; the
            // exact limit is checked again per request.
            .max_buf_size(max_header.saturating_add(1024).max(8192));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(max_header).unwrap_or(u32::MAX));
        builder
    }

    async fn serve_io<I>(
        &self,
        builder: &auto::Builder<TokioExecutor>,
        watcher: hyper_util::server::graceful::Watcher,
        io: TokioIo<I>,
        conn: ConnInfo,
    ) where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let shared = self.shared.clone();
        let conn = Arc::new(conn);
        let service = service_fn(move |req: http::Request<Incoming>| {
            let shared = shared.clone();
            let conn = conn.clone();
            async move {
                Ok::<_, std::convert::Infallible>(crate::proxy::handle(shared, conn, req).await)
            }
        });
        let connection = builder.serve_connection_with_upgrades(io, service);
        if let Err(e) = watcher.watch(connection.into_owned()).await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}
