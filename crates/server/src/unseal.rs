//! Sealed start: a data directory whose root key is split into Shamir key shares.
//!
//! `seawall operator init --key-shares N --key-threshold T` splits the root key, writes
//! `seal.json` (the seal type, N, T and a check value) and destroys `root.key`. When the server
//! then starts without `root.key` it is *sealed*: it binds the API listener and serves only
//! Vault's `sys/seal-status`, `sys/unseal` and `sys/health`; every other request is answered
//! 503 `{"errors":["Vault is sealed"]}`. Operators submit key shares (`seawall operator unseal`
//! or any Vault client); once T shares rebuild a key whose check value matches, the store is
//! opened with it and start-up continues exactly as with a key file. The same listener then
//! serves the normal API: requests that arrive while start-up finishes wait for it.
//!
//! `seal.json` with `{"type":"file"}` records that `seawall operator init` ran on a data
//! directory that keeps its key file. Without `seal.json` nothing here changes how a data
//! directory opens.

use crate::bootstrap::{Bootstrap, State};
use crate::run::RunError;
use crate::tls;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxState};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use seawall_core::clock::SharedClock;
use seawall_core::config::Config;
use seawall_core::seal::{root_key_path, RootKey};
use seawall_vault::shamir;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tower::ServiceExt;
use zeroize::Zeroizing;

/// The seal description's file name in the data directory.
pub const SEAL_FILE: &str = "seal.json";
/// Length of the root key, and of a key share (one more byte: its x coordinate).
const KEY_LEN: usize = 32;
const SHARE_LEN: usize = KEY_LEN + 1;
/// What the check value authenticates, keyed with the root key.
const CHECK_LABEL: &[u8] = b"seawall seal check v1";
/// The version in Vault's status answers, as the vault's own `sys/` paths report it.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "+seawall");
/// How long a request that arrives while start-up finishes after unsealing waits for it.
const START_WAIT: Duration = Duration::from_secs(60);

/// Why a seal file could not be used or a key share was refused. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum UnsealError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is not a seal description: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("`{path}` already exists: this data directory was initialised before")]
    AlreadyInitialised { path: PathBuf },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the request body is not JSON with `key` (a key share) or `reset: true`: {0}")]
    BadRequest(String),
    #[error("the key share is neither hexadecimal nor base64")]
    KeyEncoding,
    #[error("the key share is {len} bytes long; a key share of this vault is {SHARE_LEN} bytes")]
    KeyLength { len: usize },
    #[error("the {given} key shares given do not rebuild this vault's root key ({reason}); unseal progress was reset, submit the shares again")]
    WrongShares { given: usize, reason: String },
}

/// The contents of `seal.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SealFile {
    /// The root key stays in `root.key`.
    File,
    /// The root key exists only as `shares` key shares, `threshold` of which rebuild it.
    Shamir {
        shares: u8,
        threshold: u8,
        /// Hex HMAC-SHA256 of a fixed label keyed with the root key: detects a wrong rebuild.
        check: String,
    },
}

impl SealFile {
    /// The path of `seal.json` in `data_dir`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(SEAL_FILE)
    }

    /// A Shamir seal description for `root` split into `shares` with `threshold`.
    pub fn shamir(root: &RootKey, shares: u8, threshold: u8) -> Self {
        SealFile::Shamir {
            shares,
            threshold,
            check: hex::encode(check_mac(root).finalize().into_bytes()),
        }
    }

    /// Reads `seal.json` in `data_dir`; `None` when there is none.
    pub fn load(data_dir: &Path) -> Result<Option<Self>, UnsealError> {
        let path = Self::path(data_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(UnsealError::Read { path, source }),
        };
        let seal: SealFile = serde_json::from_str(&text).map_err(|e| UnsealError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if let SealFile::Shamir {
            shares, threshold, ..
        } = &seal
        {
            shamir::parameters(usize::from(*shares), usize::from(*threshold)).map_err(|e| {
                UnsealError::Corrupt {
                    path: path.clone(),
                    reason: e.to_string(),
                }
            })?;
        }
        Ok(Some(seal))
    }

    /// Writes `seal.json` (mode 0600), refusing to replace an existing one.
    pub fn create(&self, data_dir: &Path) -> Result<(), UnsealError> {
        let path = Self::path(data_dir);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => {
                UnsealError::AlreadyInitialised { path: path.clone() }
            }
            _ => UnsealError::Write {
                path: path.clone(),
                source,
            },
        })?;
        let body = serde_json::to_vec_pretty(self).expect("seal description serialises");
        file.write_all(&body)
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(|source| UnsealError::Write { path, source })
    }

    /// Whether `root` is the key this description was made for (constant-time comparison).
    pub fn matches(&self, root: &RootKey) -> bool {
        match self {
            SealFile::File => false,
            SealFile::Shamir { check, .. } => match hex::decode(check) {
                Ok(expected) => check_mac(root).verify_slice(&expected).is_ok(),
                Err(_) => false,
            },
        }
    }

    /// Vault's `sys/seal-status` (and `sys/unseal`) answer for this seal.
    pub fn status(&self, sealed: bool, progress: usize, nonce: &str) -> serde_json::Value {
        let (kind, t, n) = match self {
            SealFile::File => ("file", 1, 1),
            SealFile::Shamir {
                shares, threshold, ..
            } => ("shamir", *threshold, *shares),
        };
        serde_json::json!({
            "type": kind,
            "initialized": true,
            "sealed": sealed,
            "t": t,
            "n": n,
            "progress": progress,
            "nonce": nonce,
            "version": VERSION,
            "build_date": "",
            "migration": false,
            "recovery_seal": false,
            "storage_type": "sqlite",
        })
    }
}

fn check_mac(root: &RootKey) -> Hmac<sha2::Sha256> {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(root.expose_bytes())
        .expect("HMAC takes any key length");
    mac.update(CHECK_LABEL);
    mac
}

/// Whether `data_dir` is sealed with key shares (a Shamir `seal.json` and no `root.key`).
pub fn is_shamir_sealed(data_dir: &Path) -> bool {
    !root_key_path(data_dir).exists()
        && matches!(SealFile::load(data_dir), Ok(Some(SealFile::Shamir { .. })))
}

/// Overwrites a key file with zeros, flushes it, then unlinks it.
pub fn destroy_key_file(path: &Path) -> std::io::Result<()> {
    let len = std::fs::metadata(path)?.len();
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(&vec![0u8; usize::try_from(len).unwrap_or(0)])?;
    file.sync_all()?;
    drop(file);
    std::fs::remove_file(path)?;
    if let Some(dir) = path.parent() {
        // Make the unlink durable; a directory that cannot be opened for sync is not an error.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Decodes a key share as Vault clients send it: hexadecimal or standard base64. Some text
/// is both; the reading that gives a share's length wins, hexadecimal first.
pub fn decode_share(text: &str) -> Result<Zeroizing<Vec<u8>>, UnsealError> {
    let text = text.trim();
    let hex = hex::decode(text).ok().map(Zeroizing::new);
    if let Some(bytes) = hex.as_ref().filter(|b| b.len() == SHARE_LEN) {
        return Ok(bytes.clone());
    }
    match base64::engine::general_purpose::STANDARD.decode(text) {
        Ok(bytes) => Ok(Zeroizing::new(bytes)),
        Err(_) => hex.ok_or(UnsealError::KeyEncoding),
    }
}

/// Encodes a key share for display (base64, as `seawall operator init` prints it).
pub fn encode_share(share: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(share)
}

/// The unseal progress: key shares submitted so far, until they rebuild the root key.
pub struct Unsealer {
    seal: SealFile,
    shares: Vec<Zeroizing<Vec<u8>>>,
    nonce: String,
}

impl std::fmt::Debug for Unsealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsealer")
            .field("progress", &self.shares.len())
            .finish_non_exhaustive()
    }
}

impl Unsealer {
    /// A fresh unseal for a Shamir seal.
    pub fn new(seal: SealFile) -> Self {
        Self {
            seal,
            shares: Vec::new(),
            nonce: String::new(),
        }
    }

    /// The number of distinct shares submitted so far.
    pub fn progress(&self) -> usize {
        self.shares.len()
    }

    /// Vault's status answer while sealed.
    pub fn status(&self) -> serde_json::Value {
        self.seal.status(true, self.progress(), &self.nonce)
    }

    /// Discards the shares submitted so far.
    pub fn reset(&mut self) {
        self.shares.clear();
        self.nonce.clear();
    }

    fn threshold(&self) -> usize {
        match &self.seal {
            SealFile::Shamir { threshold, .. } => usize::from(*threshold),
            SealFile::File => 1,
        }
    }

    /// Adds one key share. Returns the root key once the threshold is reached and the rebuilt
    /// key matches the check value. A share that does not decode or has the wrong length is
    /// refused and changes nothing; a share submitted twice counts once; shares that rebuild
    /// a wrong key reset the progress.
    pub fn submit(&mut self, key: &str) -> Result<Option<RootKey>, UnsealError> {
        let share = decode_share(key)?;
        if share.len() != SHARE_LEN {
            return Err(UnsealError::KeyLength { len: share.len() });
        }
        if self.shares.iter().any(|s| s.as_slice() == share.as_slice()) {
            return Ok(None);
        }
        if self.shares.is_empty() {
            self.nonce = new_nonce();
        }
        self.shares.push(share);
        if self.shares.len() < self.threshold() {
            return Ok(None);
        }
        let given = self.shares.len();
        let parts: Vec<Vec<u8>> = self.shares.iter().map(|s| s.to_vec()).collect();
        let rebuilt = shamir::combine(&parts).map(Zeroizing::new);
        drop(Zeroizing::new(parts));
        self.reset();
        let rebuilt = rebuilt.map_err(|e| UnsealError::WrongShares {
            given,
            reason: e.to_string(),
        })?;
        let bytes: [u8; KEY_LEN] =
            rebuilt
                .as_slice()
                .try_into()
                .map_err(|_| UnsealError::WrongShares {
                    given,
                    reason: "the rebuilt key has the wrong length".into(),
                })?;
        let root = RootKey::from_bytes(bytes);
        if !self.seal.matches(&root) {
            return Err(UnsealError::WrongShares {
                given,
                reason: "the rebuilt key does not match the check value in seal.json".into(),
            });
        }
        Ok(Some(root))
    }
}

fn new_nonce() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

// ---------------------------------------------------------------------------------------------
// The sealed listener

/// What the API listener does now.
#[derive(Clone)]
enum Phase {
    Sealed,
    /// Unsealed; the store is opening and the roles are starting.
    Starting,
    /// Serving the normal API.
    Live(Router),
    Failed(String),
}

struct Shared {
    unsealer: Mutex<Unsealer>,
    seal: SealFile,
    key_tx: Mutex<Option<oneshot::Sender<RootKey>>>,
    phase: watch::Sender<Phase>,
}

/// The API listener of a server that started sealed, to be handed the normal API router.
pub struct SealedApi {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl SealedApi {
    /// Serves `router` on the listener from now on, until `shutdown` resolves.
    pub fn hand_over(
        self,
        router: Router,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.shared.phase.send_replace(Phase::Live(router));
        tokio::spawn(async move {
            shutdown.await;
            let _ = self.stop.send(true);
        });
    }
}

/// Opens the data directory: as [`Bootstrap::open`] does unless it is sealed with key shares,
/// in which case the API listener serves only the unseal API until enough shares rebuild the
/// root key. `Ok(None)`: interrupted while sealed.
pub async fn open(
    config: Config,
    clock: SharedClock,
) -> Result<Option<(State, Option<SealedApi>)>, RunError> {
    let data_dir = config.data_dir();
    let seal = match SealFile::load(&data_dir)? {
        Some(seal @ SealFile::Shamir { .. }) if !root_key_path(&data_dir).exists() => seal,
        Some(SealFile::Shamir { .. }) => {
            tracing::warn!(
                "`{}` and `{}` are both present; using the key file (an `operator init` stopped half way?)",
                root_key_path(&data_dir).display(),
                SealFile::path(&data_dir).display()
            );
            return Ok(Some((Bootstrap::open(config, clock)?, None)));
        }
        _ => return Ok(Some((Bootstrap::open(config, clock)?, None))),
    };
    let listener = crate::run::bind(config.server.listen, "server.listen").await?;
    let cert = tls::cert_paths(crate::run::configured_cert(&config), &data_dir)?;
    let api_tls = seawall_gateway::tls::server_config(&cert.cert, &cert.key, None)
        .map_err(|e| RunError::Gateway(e.to_string()))?;
    let (key_tx, key_rx) = oneshot::channel();
    let shared = Arc::new(Shared {
        unsealer: Mutex::new(Unsealer::new(seal.clone())),
        seal,
        key_tx: Mutex::new(Some(key_tx)),
        phase: watch::Sender::new(Phase::Sealed),
    });
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(crate::serve::serve(
        listener,
        Some(api_tls),
        router(shared.clone()),
        crate::run::stopped(stop_rx),
    ));
    eprintln!("seawall: sealed; unseal with `seawall operator unseal`");
    let root = tokio::select! {
        key = key_rx => key.map_err(|_| RunError::Gateway("the unseal listener stopped".into()))?,
        () = crate::run::wait_for_interrupt() => {
            let _ = stop.send(true);
            return Ok(None);
        }
    };
    match Bootstrap::open_with_key(config, clock, root) {
        Ok(state) => {
            state.audit.record(
                seawall_audit::AuditEntry::new("vault.unseal", seawall_audit::Outcome::Success)
                    .actor("operator"),
            );
            tracing::info!("unsealed with key shares");
            Ok(Some((state, Some(SealedApi { shared, stop }))))
        }
        Err(e) => {
            shared
                .phase
                .send_replace(Phase::Failed(format!("start after unsealing failed: {e}")));
            // Let the waiting unseal request carry the error before the process ends.
            tokio::time::sleep(Duration::from_millis(200)).await;
            Err(e.into())
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

async fn dispatch(AxState(shared): AxState<Arc<Shared>>, req: Request) -> Response {
    let mut rx = shared.phase.subscribe();
    loop {
        let phase = rx.borrow_and_update().clone();
        match phase {
            Phase::Live(router) => {
                return match router.oneshot(req).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                }
            }
            Phase::Sealed => return sealed_request(&shared, req).await,
            Phase::Failed(msg) => return vault_error(StatusCode::INTERNAL_SERVER_ERROR, &msg),
            Phase::Starting => {}
        }
        if !matches!(
            tokio::time::timeout(START_WAIT, rx.changed()).await,
            Ok(Ok(()))
        ) {
            return vault_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Vault is unsealed but still starting; retry",
            );
        }
    }
}

/// The three endpoints a sealed vault serves; 503 "Vault is sealed" for everything else.
async fn sealed_request(shared: &Arc<Shared>, req: Request) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let method = req.method().clone();
    match path.as_str() {
        "/v1/sys/seal-status" => {
            if method != Method::GET && method != Method::HEAD {
                return method_not_allowed(&method, "sys/seal-status", "GET");
            }
            let status = lock(&shared.unsealer).status();
            json(StatusCode::OK, &status)
        }
        "/v1/sys/health" => {
            if method != Method::GET && method != Method::HEAD {
                return method_not_allowed(&method, "sys/health", "GET or HEAD");
            }
            health(req.uri().query(), method == Method::HEAD)
        }
        "/v1/sys/unseal" => {
            if method != Method::PUT && method != Method::POST {
                return method_not_allowed(&method, "sys/unseal", "PUT or POST");
            }
            let body = match axum::body::to_bytes(req.into_body(), 64 * 1024).await {
                Ok(b) => b,
                Err(e) => {
                    return vault_error(StatusCode::BAD_REQUEST, &format!("request body: {e}"))
                }
            };
            unseal_request(shared, body).await
        }
        _ => vault_error(StatusCode::SERVICE_UNAVAILABLE, "Vault is sealed"),
    }
}

#[derive(Deserialize)]
struct UnsealBody {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    reset: bool,
    #[serde(default)]
    migrate: bool,
}

async fn unseal_request(shared: &Arc<Shared>, body: Bytes) -> Response {
    let parsed: UnsealBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            let msg = UnsealError::BadRequest(e.to_string()).to_string();
            return vault_error(StatusCode::BAD_REQUEST, &msg);
        }
    };
    drop(Zeroizing::new(body.to_vec()));
    if parsed.migrate {
        return vault_error(
            StatusCode::BAD_REQUEST,
            "seal migration is not supported; submit the key share without `migrate`",
        );
    }
    let mut rx = shared.phase.subscribe();
    let outcome = {
        let mut unsealer = lock(&shared.unsealer);
        if !matches!(*rx.borrow_and_update(), Phase::Sealed) {
            // Another request rebuilt the key meanwhile: answer as the vault now is.
            None
        } else if parsed.reset {
            unsealer.reset();
            return json(StatusCode::OK, &unsealer.status());
        } else {
            let Some(key) = parsed
                .key
                .map(Zeroizing::new)
                .filter(|k| !k.trim().is_empty())
            else {
                return vault_error(
                    StatusCode::BAD_REQUEST,
                    "the request body needs `key` (a key share) or `reset: true`",
                );
            };
            match unsealer.submit(&key) {
                Ok(None) => return json(StatusCode::OK, &unsealer.status()),
                Ok(Some(root)) => {
                    // Under the lock, so no other request submits to a reset unsealer.
                    shared.phase.send_replace(Phase::Starting);
                    Some(root)
                }
                Err(e) => {
                    if matches!(e, UnsealError::WrongShares { .. }) {
                        tracing::warn!(error = %e, "unseal failed");
                    }
                    return vault_error(StatusCode::BAD_REQUEST, &e.to_string());
                }
            }
        }
    };
    if let Some(root) = outcome {
        let sent = lock(&shared.key_tx).take().map(|tx| tx.send(root));
        if !matches!(sent, Some(Ok(()))) {
            return vault_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server is no longer waiting for a key",
            );
        }
    }
    // Answer once the normal API serves (or start-up failed), so a client that saw
    // `sealed: false` can use the vault at once.
    let deadline = tokio::time::Instant::now() + START_WAIT;
    loop {
        match &*rx.borrow_and_update() {
            Phase::Live(_) => break,
            Phase::Failed(msg) => return vault_error(StatusCode::INTERNAL_SERVER_ERROR, msg),
            Phase::Sealed | Phase::Starting => {}
        }
        if !matches!(
            tokio::time::timeout_at(deadline, rx.changed()).await,
            Ok(Ok(()))
        ) {
            break;
        }
    }
    json(StatusCode::OK, &shared.seal.status(false, 0, ""))
}

/// Vault's `sys/health` while sealed: 503 unless `sealedcode` asks for another status.
fn health(query: Option<&str>, head: bool) -> Response {
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for pair in query.unwrap_or("").split('&') {
        if let Some(code) = pair.strip_prefix("sealedcode=") {
            match code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
            {
                Some(c) => status = c,
                None => {
                    return vault_error(
                        StatusCode::BAD_REQUEST,
                        &format!("bad code for `sealedcode`: `{code}` is not an HTTP status"),
                    )
                }
            }
        }
    }
    if head {
        return (status, Body::empty()).into_response();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json(
        status,
        &serde_json::json!({
            "initialized": true,
            "sealed": true,
            "standby": true,
            "performance_standby": false,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": now,
            "version": VERSION,
        }),
    )
}

fn method_not_allowed(method: &Method, path: &str, allowed: &str) -> Response {
    vault_error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method {method} is not supported on {path}; use {allowed}"),
    )
}

fn vault_error(status: StatusCode, msg: &str) -> Response {
    json(status, &serde_json::json!({ "errors": [msg] }))
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        value.to_string(),
    )
        .into_response()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
