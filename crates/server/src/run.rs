//! Running the roles: `seawall up` (everything in one process) and `seawall server`.
//!
//! Start-up opens the data directory, starts the identity service, loads the policies (a
//! policy set with errors stops start-up: there is no last good set yet), then binds every
//! listener before announcing `seawall: ready`. Background jobs keep signing keys, revocations
//! and policies current; the first interrupt (Ctrl-C or SIGTERM) stops everything and flushes
//! the audit log.

use crate::access::{AuditSink, VerifierAuth};
use crate::api::{self, ApiState, PolicySnapshot};
use crate::bootstrap::State;
use crate::signin_metrics::MeteredSignIn;
use crate::tls::{self, CertPaths};
use prometheus_client::registry::Registry;
use seawall_core::auth::SignInBackend;
use seawall_core::config::{Config, RouteConfig};
use seawall_core::event::{EventSink, SecurityEvent};
use seawall_core::SystemClock;
use seawall_gateway::policy::PolicyAuthorizer;
use seawall_gateway::{AssertionKey, Gateway, GatewayMetrics, GatewayParts};
use seawall_identity::IdentityService;
use seawall_policy::PolicyEngine;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Why a role could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Bootstrap(#[from] crate::BootstrapError),
    #[error("{0}")]
    Identity(#[from] seawall_identity::IdentityError),
    #[error("policies: {0}")]
    Policy(String),
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
    #[error("gateway: {0}")]
    Gateway(String),
    #[error("{0}")]
    Access(#[from] crate::access::AccessSetupError),
    #[error("vault: {0}")]
    Vault(String),
    #[error("advisory index: {0}")]
    Supply(String),
    #[error("cannot listen on `{addr}` ({what}): {source}")]
    Bind {
        addr: SocketAddr,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Unseal(#[from] crate::unseal::UnsealError),
}

/// What `seawall up` should run.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpOptions {
    /// Start the demo echo upstream and its route.
    pub demo: bool,
    /// Run the gateway (false for `seawall server`).
    pub gateway: bool,
}

/// The address of the demo upstream.
pub const DEMO_UPSTREAM: &str = "127.0.0.1:8081";

/// Runs the control plane, and with `opts.gateway` the gateway too, until interrupted.
pub async fn run(mut config: Config, opts: UpOptions) -> Result<(), RunError> {
    if opts.demo {
        add_demo_route(&mut config);
    }
    // A data directory sealed with key shares serves only the unseal API until unsealed.
    let Some((state, sealed_api)) = crate::unseal::open(config, Arc::new(SystemClock)).await?
    else {
        return Ok(());
    };
    let config = state.config.clone();
    let identity = start_identity(&state)?;
    let policy_dir = config.policy_dir();
    install_default_policies(&policy_dir)?;
    let (engine, files) = load_policies(&policy_dir)?;
    let policies = Arc::new(arc_swap::ArcSwap::from_pointee(PolicySnapshot::new(
        1, files, &engine,
    )));
    let authorizer = Arc::new(crate::access::authorizer(engine, &config)?);
    let changed = Arc::new(tokio::sync::Notify::new());

    let cert = tls::cert_paths(configured_cert(&config), &state.data_dir)?;
    let mut registry = Registry::default();

    // Bind everything first, so a port in use fails start-up before anything is announced.
    let api_listener = match sealed_api {
        Some(_) => None,
        None => Some(bind(config.server.listen, "server.listen").await?),
    };
    let gateway_listener = match opts.gateway {
        true => Some(bind(config.gateway.listen, "gateway.listen").await?),
        false => None,
    };
    let admin_listener = match config.server.admin_listen {
        Some(a) => Some(bind(a, "server.admin_listen").await?),
        None => None,
    };
    if opts.demo {
        let addr: SocketAddr = DEMO_UPSTREAM
            .parse()
            .map_err(|_| RunError::Gateway("demo".into()))?;
        seawall_gateway::demo::spawn_echo(addr)
            .await
            .map_err(|source| RunError::Bind {
                addr,
                what: "demo upstream",
                source,
            })?;
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let vault = open_vault(&state)?;
    vault.spawn_jobs(stop_rx.clone());
    let sign_in: Arc<dyn SignInBackend> = Arc::new(MeteredSignIn::new(
        Arc::new(identity.clone()),
        &mut registry,
    ));
    let api_state = ApiState {
        identity: identity.clone(),
        sign_in: sign_in.clone(),
        config: config.clone(),
        policies: policies.clone(),
        changed: changed.clone(),
        supply: supply_state(&state)?,
        vault,
    };
    let api_tls = seawall_gateway::tls::server_config(&cert.cert, &cert.key, None)
        .map_err(|e| RunError::Gateway(e.to_string()))?;
    let api_router = api::router(api_state);
    if let Some(sealed) = sealed_api {
        // Started sealed: the listener that served the unseal API serves the API from now on.
        sealed.hand_over(api_router, stopped(stop_rx.clone()));
    } else if let Some(listener) = api_listener {
        tokio::spawn(crate::serve::serve(
            listener,
            Some(api_tls),
            api_router,
            stopped(stop_rx.clone()),
        ));
    }

    if let Some(listener) = gateway_listener {
        let metrics = GatewayMetrics::register(&mut registry);
        let gateway = build_gateway(&state, &identity, sign_in, authorizer.clone(), metrics)?;
        let gw_tls = match config.gateway.tls {
            true => Some(
                seawall_gateway::tls::server_config(
                    &cert.cert,
                    &cert.key,
                    config.device.ca_cert.as_deref(),
                )
                .map_err(|e| RunError::Gateway(e.to_string()))?,
            ),
            false => None,
        };
        tokio::spawn(gateway.serve(listener, gw_tls, stopped(stop_rx.clone())));
    }
    if let Some(listener) = admin_listener {
        tokio::spawn(crate::metrics::serve(
            listener,
            registry,
            stopped(stop_rx.clone()),
        ));
    }

    spawn_maintenance(identity.clone(), changed.clone(), stop_rx.clone());
    spawn_policy_reload(
        policy_dir.clone(),
        config.policy.reload_interval_ms,
        authorizer,
        policies,
        changed,
        stop_rx.clone(),
    );

    announce(&config, &state.data_dir, &cert, opts);
    wait_for_interrupt().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = state.audit.flush();
    Ok(())
}

fn supply_state(state: &State) -> Result<crate::api::supply::SupplyState, RunError> {
    let path = state.data_dir.join("advisories.db");
    let index = seawall_supply::advisory::AdvisoryIndex::open(&path)
        .map_err(|e| RunError::Supply(e.to_string()))?;
    Ok(crate::api::supply::SupplyState {
        store: state.store.clone(),
        index: Arc::new(std::sync::Mutex::new(index)),
        events: Arc::new(LogEvents),
        clock: state.clock.clone(),
    })
}

/// Opens the secrets vault on the data directory.
fn open_vault(state: &State) -> Result<Arc<seawall_vault::core::Vault>, RunError> {
    seawall_vault::core::Vault::open(seawall_vault::core::VaultParts {
        store: state.store.clone(),
        sealer: state.sealer.clone(),
        audit: state.audit.clone(),
        clock: state.clock.clone(),
        events: Arc::new(LogEvents),
        seal: seal_info(&state.data_dir),
    })
    .map_err(|e| RunError::Vault(e.to_string()))
}

/// How the root key is kept, for the vault's `sys/seal-status`.
fn seal_info(data_dir: &Path) -> seawall_vault::sys::SealInfo {
    match crate::unseal::SealFile::load(data_dir) {
        Ok(Some(crate::unseal::SealFile::Shamir {
            shares, threshold, ..
        })) => seawall_vault::sys::SealInfo {
            kind: "shamir".into(),
            threshold,
            shares,
        },
        _ => seawall_vault::sys::SealInfo::default(),
    }
}

fn start_identity(state: &State) -> Result<IdentityService, RunError> {
    Ok(IdentityService::new(
        state.store.clone(),
        state.sealer.clone(),
        state.audit.clone(),
        Arc::new(LogEvents),
        state.clock.clone(),
        &state.config,
    )?)
}

fn build_gateway(
    state: &State,
    identity: &IdentityService,
    sign_in: Arc<dyn SignInBackend>,
    authorizer: Arc<PolicyAuthorizer>,
    metrics: GatewayMetrics,
) -> Result<Gateway, RunError> {
    let config = &state.config;
    let parts = GatewayParts {
        gateway: config.gateway.clone(),
        session: config.session.clone(),
        device: config.device.clone(),
        routes: config.routes.clone(),
        public_url: config.gateway_url(),
        authenticator: Arc::new(VerifierAuth(identity.verifier())),
        authorizer,
        sign_in,
        decisions: Arc::new(AuditSink(state.audit.clone())),
        assertion_key: Some(assertion_key(state)?),
        metrics: Some(metrics),
        forward_auth_route: None,
        clock: state.clock.clone(),
    };
    Gateway::new(parts).map_err(|e| RunError::Gateway(e.to_string()))
}

/// The gateway's assertion key, kept sealed in the store so upstreams that cached its JWKS
/// keep verifying across restarts.
fn assertion_key(state: &State) -> Result<AssertionKey, RunError> {
    const META: &str = "gateway.assertion_key";
    let mut fresh = [0u8; 32];
    rand_fill(&mut fresh);
    let sealed = state
        .store
        .meta_init(META, &state.sealer.seal(&fresh, META))
        .map_err(|e| RunError::Gateway(e.to_string()))?;
    let bytes = state
        .sealer
        .open(&sealed, META)
        .map_err(|e| RunError::Gateway(e.to_string()))?;
    let key: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| RunError::Gateway("stored assertion key has the wrong length".into()))?;
    Ok(AssertionKey::from_bytes(&key))
}

fn rand_fill(buf: &mut [u8]) {
    use rand::RngCore;
    rand::rngs::OsRng.fill_bytes(buf);
}

pub(crate) fn configured_cert(config: &Config) -> Option<CertPaths> {
    match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => Some(CertPaths {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    }
}

fn add_demo_route(config: &mut Config) {
    if config.routes.iter().any(|r| r.name == "demo") {
        return;
    }
    config.routes.push(RouteConfig {
        name: "demo".into(),
        host: None,
        path_prefix: "/".into(),
        upstream: format!("http://{DEMO_UPSTREAM}"),
        upstream_ca: None,
        strip_prefix: false,
    });
}

/// Writes the default policies into a policy directory that does not exist yet.
fn install_default_policies(dir: &Path) -> Result<(), RunError> {
    if dir.exists() {
        return Ok(());
    }
    let write_err = |path: &Path, source| RunError::Write {
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    for (name, text) in seawall_policy::default_policies() {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| write_err(&path, e))?;
    }
    Ok(())
}

/// Loads the policy directory, returning the engine and the files it was built from.
pub fn load_policies(dir: &Path) -> Result<(PolicyEngine, Vec<(String, String)>), RunError> {
    let files = read_policy_files(dir).map_err(RunError::Policy)?;
    let engine = PolicyEngine::from_sources(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
        .map_err(|e| RunError::Policy(e.to_string()))?;
    Ok((engine, files))
}

fn read_policy_files(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("cedar") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        files.push((path.display().to_string(), text));
    }
    files.sort();
    Ok(files)
}

pub(crate) async fn bind(addr: SocketAddr, what: &'static str) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { addr, what, source })
}

pub(crate) async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Key rotation, pruning and revocations from other processes, four times a second.
fn spawn_maintenance(
    identity: IdentityService,
    changed: Arc<tokio::sync::Notify>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut version = identity.verifier().revocation_version();
        while !*stop.borrow() {
            tick.tick().await;
            let id = identity.clone();
            match tokio::task::spawn_blocking(move || id.maintain()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "identity maintenance failed"),
                Err(e) => tracing::error!(error = %e, "identity maintenance panicked"),
            }
            let now = identity.verifier().revocation_version();
            if now != version {
                version = now;
                changed.notify_waiters();
            }
        }
    });
}

/// Re-reads the policy directory; a set with errors is refused and the last good one kept.
fn spawn_policy_reload(
    dir: PathBuf,
    interval_ms: u64,
    authorizer: Arc<PolicyAuthorizer>,
    snapshot: Arc<arc_swap::ArcSwap<PolicySnapshot>>,
    changed: Arc<tokio::sync::Notify>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(interval_ms.max(100)));
        let mut last_error: Option<String> = None;
        while !*stop.borrow() {
            tick.tick().await;
            let Ok(files) = read_policy_files(&dir) else {
                continue;
            };
            if files == snapshot.load().files {
                last_error = None;
                continue;
            }
            match PolicyEngine::from_sources(files.iter().map(|(n, t)| (n.as_str(), t.as_str()))) {
                Ok(engine) => {
                    let version = snapshot.load().version + 1;
                    tracing::info!(
                        policy.version = version,
                        policy.files = files.len(),
                        "policies reloaded"
                    );
                    snapshot.store(Arc::new(PolicySnapshot::new(version, files, &engine)));
                    authorizer.set_engine(engine);
                    changed.notify_waiters();
                    last_error = None;
                }
                Err(e) => {
                    let msg = e.to_string();
                    if last_error.as_deref() != Some(&msg) {
                        tracing::error!(error = %msg, "policy reload refused; keeping the last good policies");
                        last_error = Some(msg);
                    }
                }
            }
        }
    });
}

/// Security events go to the log until the event bus lands.
struct LogEvents;

impl EventSink for LogEvents {
    fn publish(&self, event: SecurityEvent) {
        let json = serde_json::to_string(&event).unwrap_or_default();
        tracing::warn!(event = %json, "security event");
    }
}

fn announce(config: &Config, data_dir: &Path, cert: &CertPaths, opts: UpOptions) {
    let api = config.issuer();
    let dd = data_dir.display();
    let mut out = format!(
        "\nSeawall is running.\n  control plane  {api}\n  data dir       {dd}\n  TLS cert       {}\n",
        cert.cert.display()
    );
    out.push_str(&format!("  vault API      {api}/v1/ (Vault-compatible)\n"));
    if opts.gateway {
        out.push_str(&format!("  gateway        {}/\n", config.gateway_url()));
        out.push_str(&format!(
            "  sign in at     {}/.seawall/sign-in\n",
            config.gateway_url()
        ));
    }
    if let Some(a) = config.server.admin_listen {
        out.push_str(&format!("  metrics        http://{a}/metrics\n"));
    }
    out.push_str(&format!(
        "\nNext steps:\n  1. Create the first admin (in another terminal):\n       seawall user add admin --group admins --data-dir {dd}\n  2. Sign in at the gateway in a browser (accept the self-signed certificate), enroll\n     an authenticator app from the QR code, and keep the recovery codes.\n  3. Or from the terminal: seawall login --server {api} --ca {}\n     then: curl --cacert {} -H \"Authorization: Bearer $(seawall token)\" {}/\n",
        cert.cert.display(),
        cert.cert.display(),
        config.gateway_url()
    ));
    out.push_str(&format!(
        "  4. Secrets: seawall operator init --data-dir {dd}   (prints the vault's root token)\n     then: export VAULT_ADDR={api} VAULT_CACERT={} VAULT_TOKEN=...\n",
        cert.cert.display()
    ));
    eprintln!("{out}");
    eprintln!("seawall: ready");
}

pub(crate) async fn wait_for_interrupt() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs the gateway alone, fetching keys, revocations and policies from the control plane at
/// `gateway.server_url`. Until the first sync succeeds it has no keys and no policies, so it
/// refuses every request: it fails closed.
pub async fn run_proxy(config: Config) -> Result<(), RunError> {
    let Some(server_url) = config.gateway.server_url.clone() else {
        return Err(RunError::Gateway(
            "`gateway.server_url` must name the control plane for `seawall proxy`".into(),
        ));
    };
    let issuer = config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| server_url.clone())
        .trim_end_matches('/')
        .to_string();
    let verifier = Arc::new(seawall_identity::Verifier::new(
        issuer,
        config.tokens.audience.clone(),
    ));
    let empty: [(&str, &str); 0] = [];
    let engine = PolicyEngine::from_sources(empty).map_err(|e| RunError::Policy(e.to_string()))?;
    let authorizer = Arc::new(crate::access::authorizer(engine, &config)?);
    let ca = config.gateway.server_ca.clone();
    let sign_in = seawall_gateway::remote::RemoteSignIn::new(&server_url, ca.as_deref())
        .map_err(|e| RunError::Gateway(e.to_string()))?;
    // Revocations of tokens that have expired anyway are dropped once a minute.
    let pruned = verifier.clone();
    let prune = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            pruned.prune(seawall_core::Clock::now(&SystemClock));
        }
    });
    let sync = seawall_gateway::remote::spawn_sync(
        &server_url,
        ca.as_deref(),
        verifier.clone(),
        authorizer.clone(),
        Duration::from_secs(5),
    )
    .map_err(|e| RunError::Gateway(e.to_string()))?;

    let data_dir = config.data_dir();
    let cert = tls::cert_paths(configured_cert(&config), &data_dir)?;
    let mut registry = Registry::default();
    let metrics = GatewayMetrics::register(&mut registry);
    let listener = bind(config.gateway.listen, "gateway.listen").await?;
    let admin_listener = match config.server.admin_listen {
        Some(a) => Some(bind(a, "server.admin_listen").await?),
        None => None,
    };
    let parts = GatewayParts {
        gateway: config.gateway.clone(),
        session: config.session.clone(),
        device: config.device.clone(),
        routes: config.routes.clone(),
        public_url: config.gateway_url(),
        authenticator: Arc::new(VerifierAuth(verifier)),
        authorizer,
        sign_in: Arc::new(sign_in),
        decisions: Arc::new(LogDecisions),
        assertion_key: None,
        metrics: Some(metrics),
        forward_auth_route: None,
        clock: Arc::new(SystemClock),
    };
    let gateway = Gateway::new(parts).map_err(|e| RunError::Gateway(e.to_string()))?;
    let gw_tls = match config.gateway.tls {
        true => Some(
            seawall_gateway::tls::server_config(
                &cert.cert,
                &cert.key,
                config.device.ca_cert.as_deref(),
            )
            .map_err(|e| RunError::Gateway(e.to_string()))?,
        ),
        false => None,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(gateway.serve(listener, gw_tls, stopped(stop_rx.clone())));
    if let Some(l) = admin_listener {
        tokio::spawn(crate::metrics::serve(l, registry, stopped(stop_rx.clone())));
    }
    eprintln!(
        "gateway {} following control plane {server_url}\nseawall: ready",
        config.gateway_url()
    );
    wait_for_interrupt().await;
    let _ = stop_tx.send(true);
    sync.abort();
    prune.abort();
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(())
}

/// A separate gateway has no audit log of its own: its decisions go to its log, denials at
/// info and allows at debug, as JSON when `--log-format json` is set.
struct LogDecisions;

impl seawall_gateway::DecisionSink for LogDecisions {
    fn record(&self, r: seawall_gateway::DecisionRecord) {
        let d = &r.decision;
        match d.verdict {
            seawall_gateway::Verdict::Allow => tracing::debug!(
                user.name = %r.user, route.name = %r.route, http.method = %r.method,
                client.ip = %r.ip, decision.reason = %d.reason, "request allowed"
            ),
            _ => tracing::info!(
                user.name = %r.user, route.name = %r.route, http.method = %r.method,
                client.ip = %r.ip, decision.verdict = d.verdict.as_str(),
                decision.reason = %d.reason, "request denied"
            ),
        }
    }
}
