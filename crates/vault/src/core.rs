//! The vault as a whole: its mounts, and the path every request takes through it.
//!
//! A request is authenticated (its token looked up), authorised (the token's policies must
//! grant the capability the operation needs on the full path), handed to the engine mounted at
//! the longest matching prefix, and audited, allowed or not. Body and response values reach the
//! audit log only as HMACs.

use crate::acl::PolicyStore;
use crate::approle::AppRoleBackend;
use crate::backend::{Backend, MountEntry};
use crate::barrier::Barrier;
use crate::database::DatabaseBackend;
use crate::error::VaultError;
use crate::kv::KvBackend;
use crate::lease::LeaseManager;
use crate::request::{Operation, Request, Response, TokenEntry};
use crate::token::{TokenBackend, TokenStore};
use seawall_audit::{AuditEntry, AuditLog, Outcome};
use seawall_core::clock::SharedClock;
use seawall_core::event::EventSink;
use seawall_core::seal::Sealer;
use seawall_store::Store;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

/// Where the mount table is kept.
const MOUNTS_KEY: &str = "sys/mounts";

/// What the vault is built from: the control plane's opened data directory.
#[derive(Clone)]
pub struct VaultParts {
    pub store: Arc<dyn Store>,
    pub sealer: Arc<Sealer>,
    pub audit: AuditLog,
    pub clock: SharedClock,
    pub events: Arc<dyn EventSink>,
    /// How the root key is protected, for `sys/seal-status`.
    pub seal: crate::sys::SealInfo,
}

/// A request as it arrives, before the vault resolves its mount and caller.
#[derive(Clone)]
pub struct RawRequest {
    /// `GET`, `LIST`, `POST`, `PUT`, `PATCH`, `DELETE`.
    pub method: String,
    /// The path below `/v1/`, as sent (a trailing `/` is kept: LIST paths end with one).
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Map<String, Value>,
    /// From `X-Vault-Token` or `Authorization: Bearer`.
    pub token: Option<seawall_core::Secret<String>>,
    pub client_addr: Option<IpAddr>,
}

impl std::fmt::Debug for RawRequest {
    // The body may hold secret values: only its field names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("fields", &self.body.keys().collect::<Vec<_>>())
            .field("client_addr", &self.client_addr)
            .finish_non_exhaustive()
    }
}

/// One mounted engine.
#[derive(Clone)]
pub(crate) struct Mounted {
    pub(crate) entry: MountEntry,
    pub(crate) backend: Arc<dyn Backend>,
}

/// The vault.
pub struct Vault {
    pub(crate) barrier: Barrier,
    pub tokens: Arc<TokenStore>,
    pub leases: Arc<LeaseManager>,
    pub policies: Arc<PolicyStore>,
    /// Longest path first, so the first prefix match is the right one.
    pub(crate) mounts: RwLock<Vec<Mounted>>,
    pub(crate) databases: RwLock<Vec<Arc<DatabaseBackend>>>,
    pub(crate) parts: VaultParts,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault")
    }
}

impl Vault {
    /// Opens the vault on the data directory's store, mounting the default engines on first
    /// use: `secret/` (KV version 2), `database/`, `auth/token/` and `auth/approle/`.
    pub fn open(parts: VaultParts) -> Result<Arc<Self>, VaultError> {
        let barrier = Barrier::new(parts.store.clone(), parts.sealer.clone());
        let tokens = TokenStore::open(barrier.clone(), parts.clock.clone())?;
        let leases = LeaseManager::open(
            barrier.clone(),
            parts.clock.clone(),
            parts.events.clone(),
            parts.audit.clone(),
        )?;
        let policies = PolicyStore::open(barrier.clone())?;
        tokens.set_audit(parts.audit.clone());
        tokens.attach_leases(&leases);
        let entries = match barrier.get::<Vec<MountEntry>>(MOUNTS_KEY)? {
            Some(e) => e,
            None => {
                let e = default_mounts();
                barrier.put(MOUNTS_KEY, &e)?;
                e
            }
        };
        let vault = Arc::new(Self {
            barrier,
            tokens,
            leases,
            policies,
            mounts: RwLock::new(Vec::new()),
            databases: RwLock::new(Vec::new()),
            parts,
        });
        for entry in entries {
            vault.attach(entry)?;
        }
        Ok(vault)
    }

    /// Starts the background jobs: lease expiry and revocation retries, static-role rotation,
    /// orphan reconciliation.
    pub fn spawn_jobs(self: &Arc<Self>, stop: tokio::sync::watch::Receiver<bool>) {
        // The lease loop also expires tokens (with their children and leases).
        self.leases.clone().spawn(stop.clone());
        for db in self
            .databases
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            db.clone().spawn(stop.clone());
        }
    }

    /// Builds the engine for `entry` and adds it to the routing table.
    pub(crate) fn attach(&self, entry: MountEntry) -> Result<(), VaultError> {
        let p = &self.parts;
        let backend: Arc<dyn Backend> = match entry.kind.as_str() {
            "kv" => Arc::new(KvBackend::new(
                &entry,
                self.barrier.clone(),
                p.clock.clone(),
            )),
            "database" => {
                let db = DatabaseBackend::new(
                    &entry,
                    self.barrier.clone(),
                    self.leases.clone(),
                    p.clock.clone(),
                    p.events.clone(),
                    p.audit.clone(),
                );
                self.databases
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(db.clone());
                db
            }
            "token" => {
                let policies = self.policies.clone();
                let sudo: Arc<dyn Fn(&Request) -> bool + Send + Sync> =
                    Arc::new(move |req: &Request| {
                        req.token
                            .as_ref()
                            .is_some_and(|t| policies.acl(&t.policies).allows_sudo(&req.path))
                    });
                Arc::new(
                    TokenBackend::new(self.tokens.clone(), self.leases.clone())
                        .with_sudo_check(sudo),
                )
            }
            "approle" => Arc::new(AppRoleBackend::new(
                &entry,
                self.barrier.clone(),
                self.tokens.clone(),
                p.clock.clone(),
            )),
            other => {
                return Err(VaultError::invalid(format!(
                    "unknown engine type `{other}` (known: kv, database, approle)"
                )))
            }
        };
        let mut mounts = self.mounts.write().unwrap_or_else(|p| p.into_inner());
        mounts.push(Mounted { entry, backend });
        mounts.sort_by_key(|m| std::cmp::Reverse(m.entry.path.len()));
        Ok(())
    }

    /// The mount table, in path order.
    pub(crate) fn mount_entries(&self) -> Vec<MountEntry> {
        let mut v: Vec<MountEntry> = self
            .mounts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|m| m.entry.clone())
            .collect();
        v.sort_by(|a, b| a.path.cmp(&b.path));
        v
    }

    /// Persists the current mount table.
    pub(crate) fn save_mounts(&self) -> Result<(), VaultError> {
        self.barrier.put(MOUNTS_KEY, &self.mount_entries())
    }

    /// The engine mounted at the longest prefix of `path` (which has no leading slash).
    pub(crate) fn route(&self, path: &str) -> Option<Mounted> {
        let mounts = self.mounts.read().unwrap_or_else(|p| p.into_inner());
        mounts
            .iter()
            .find(|m| {
                path.starts_with(m.entry.path.as_str())
                    || m.entry.path.strip_suffix('/') == Some(path)
            })
            .cloned()
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.parts.audit
    }

    /// Runs one request through authentication, the ACL, the engine and the audit log.
    pub async fn handle(&self, raw: RawRequest) -> Result<Response, VaultError> {
        let mut audit = Audited::new(&raw.path, &raw.method, raw.client_addr);
        audit.request_data(&self.parts.audit, &raw.body);
        let checked = clean_path(&raw.path)
            .and_then(|p| Ok((p, operation(&raw.method, &raw.query, &raw.path)?)));
        let result = match checked {
            Ok((path, operation)) => {
                audit.path = path.clone();
                audit.operation = operation.as_str().to_owned();
                self.dispatch(raw, path, operation, &mut audit).await
            }
            Err(e) => Err(e),
        };
        audit.finish(&self.parts.audit, &result);
        result
    }

    /// Audits a request refused before it could be decoded (bad encoding, bad JSON, too
    /// large): the path as sent, shortened, and the reason.
    pub fn audit_refused(
        &self,
        method: &str,
        path: &str,
        client: Option<IpAddr>,
        error: &VaultError,
    ) {
        let audit = Audited::new(path, method, client);
        audit.finish(&self.parts.audit, &Err(clone_error(error)));
    }

    async fn dispatch(
        &self,
        raw: RawRequest,
        path: String,
        operation: Operation,
        audit: &mut Audited,
    ) -> Result<Response, VaultError> {
        if let Some(rel) = path.strip_prefix("sys/").or(match path.as_str() {
            "sys" => Some(""),
            _ => None,
        }) {
            if crate::sys::unauthenticated(rel) {
                let req = self.request(&raw, operation, &path, "sys/", rel, None);
                return crate::sys::handle(self, &req, rel).await;
            }
            let token = self.authenticate(&raw)?;
            audit.caller(&token);
            let req = self.request(&raw, operation, &path, "sys/", rel, Some(token.clone()));
            self.authorize_sys(&req, rel, &token)?;
            self.tokens.consume_use(&token)?;
            return crate::sys::handle(self, &req, rel).await;
        }
        let mounted = self
            .route(&path)
            .ok_or_else(|| VaultError::NotFound(format!("no handler for route `{path}`")))?;
        audit.mount_type = Some(mounted.entry.kind.clone());
        let rel = path
            .get(mounted.entry.path.len()..)
            .unwrap_or("")
            .to_owned();
        if mounted.backend.unauthenticated(&rel) {
            let req = self.request(&raw, operation, &path, &mounted.entry.path, &rel, None);
            return mounted.backend.handle(&req).await;
        }
        let token = self.authenticate(&raw)?;
        audit.caller(&token);
        let mut req = self.request(
            &raw,
            operation,
            &path,
            &mounted.entry.path,
            &rel,
            Some(token.clone()),
        );
        if operation == Operation::Update && !mounted.backend.exists(&req).await? {
            req.operation = Operation::Create;
        }
        if !self.policies.acl(&token.policies).allows_request(
            &path,
            req.operation,
            &params_of(&req),
        ) {
            return Err(VaultError::PermissionDenied);
        }
        if mounted.entry.kind == "token" {
            self.token_sudo_rules(&req, &token)?;
        }
        self.tokens.consume_use(&token)?;
        mounted.backend.handle(&req).await
    }

    /// Looks the caller's token up; no token, or an unknown, expired or out-of-network one, is
    /// "permission denied" without saying which.
    fn authenticate(&self, raw: &RawRequest) -> Result<Arc<TokenEntry>, VaultError> {
        let Some(token) = raw.token.as_ref() else {
            return Err(VaultError::PermissionDenied);
        };
        let entry = self
            .tokens
            .lookup(token.expose())?
            .ok_or(VaultError::PermissionDenied)?;
        if !entry.bound_cidrs.is_empty() {
            let inside = raw
                .client_addr
                .is_some_and(|ip| entry.bound_cidrs.iter().any(|c| cidr_contains(c, ip)));
            if !inside {
                return Err(VaultError::PermissionDenied);
            }
        }
        Ok(entry)
    }

    /// ACL for `sys/`: the usual check, with two extensions — a token may look up, renew and
    /// revoke leases it obtained itself, and the sudo-only paths need `sudo`.
    fn authorize_sys(
        &self,
        req: &Request,
        rel: &str,
        token: &TokenEntry,
    ) -> Result<(), VaultError> {
        let acl = self.policies.acl(&token.policies);
        if crate::sys::needs_sudo(rel) && !acl.allows_sudo(&req.path) {
            return Err(VaultError::PermissionDenied);
        }
        if acl.allows(&req.path, req.operation) {
            return Ok(());
        }
        if let Some(id) = crate::sys::own_lease_target(req, rel) {
            if self
                .leases
                .lookup(&id)
                .is_some_and(|l| l.token.as_deref() == Some(token.id.as_str()))
            {
                return Ok(());
            }
        }
        Err(VaultError::PermissionDenied)
    }

    /// Orphan tokens (`create-orphan`, `no_parent`) need root or `sudo` on the path, as in Vault.
    fn token_sudo_rules(&self, req: &Request, token: &TokenEntry) -> Result<(), VaultError> {
        let orphan = req.rel == "create-orphan"
            || matches!(req.data.get("no_parent"), Some(Value::Bool(true)))
            || req
                .data
                .get("no_parent")
                .and_then(Value::as_str)
                .is_some_and(|s| matches!(s, "true" | "1" | "t" | "T" | "TRUE" | "True"));
        if orphan && !token.is_root() && !self.policies.acl(&token.policies).allows_sudo(&req.path)
        {
            return Err(VaultError::PermissionDenied);
        }
        Ok(())
    }

    fn request(
        &self,
        raw: &RawRequest,
        operation: Operation,
        path: &str,
        mount: &str,
        rel: &str,
        token: Option<Arc<TokenEntry>>,
    ) -> Request {
        Request {
            operation,
            path: path.to_owned(),
            mount: mount.to_owned(),
            rel: rel.to_owned(),
            data: raw.body.clone(),
            query: raw.query.clone(),
            token,
            client_token: raw.token.clone(),
            client_addr: raw.client_addr,
            request_id: new_request_id(),
        }
    }
}

/// The parameters an ACL's `allowed_parameters` / `denied_parameters` look at: the body, and
/// for reads and lists the query string too.
fn params_of(req: &Request) -> std::borrow::Cow<'_, Map<String, Value>> {
    if req.query.is_empty() || !matches!(req.operation, Operation::Read | Operation::List) {
        return std::borrow::Cow::Borrowed(&req.data);
    }
    let mut m = req.data.clone();
    for (k, v) in &req.query {
        m.entry(k.clone())
            .or_insert_with(|| Value::String(v.clone()));
    }
    std::borrow::Cow::Owned(m)
}

fn default_mounts() -> Vec<MountEntry> {
    let mount = |path: &str, kind: &str, description: &str, version: Option<&str>| MountEntry {
        path: path.into(),
        kind: kind.into(),
        uuid: random_id(),
        accessor: format!("{}_{}", kind, &random_id()[..8]),
        description: description.into(),
        options: version
            .map(|v| BTreeMap::from([("version".to_owned(), v.to_owned())]))
            .unwrap_or_default(),
    };
    vec![
        mount("secret/", "kv", "key/value secret storage", Some("2")),
        mount(
            "database/",
            "database",
            "dynamic database credentials",
            None,
        ),
        mount("auth/token/", "token", "token based credentials", None),
        mount(
            "auth/approle/",
            "approle",
            "machine login with role and secret ids",
            None,
        ),
    ]
}

/// A random id in UUID form.
pub(crate) fn random_id() -> String {
    let b: [u8; 16] = rand::random();
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

fn new_request_id() -> String {
    random_id()
}

/// Checks and normalises a request path: no leading slash, no empty, `.` or `..` segment
/// (other than one trailing slash), no control characters.
pub(crate) fn clean_path(path: &str) -> Result<String, VaultError> {
    let p = path.trim_start_matches('/');
    let body = p.strip_suffix('/').unwrap_or(p);
    if body.is_empty() {
        return Err(VaultError::NotFound("missing path".into()));
    }
    if body.len() > 2048 {
        return Err(VaultError::invalid("path is longer than 2048 bytes"));
    }
    for seg in body.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(VaultError::invalid(format!(
                "path `{body}` has an empty, `.` or `..` segment"
            )));
        }
        if seg.chars().any(char::is_control) {
            return Err(VaultError::invalid("path contains a control character"));
        }
    }
    Ok(body.to_owned())
}

/// Maps an HTTP method (and `?list=true`) to an operation.
pub(crate) fn operation(
    method: &str,
    query: &BTreeMap<String, String>,
    path: &str,
) -> Result<Operation, VaultError> {
    Ok(match method {
        "GET" if query.get("list").is_some_and(|v| v == "true" || v == "1") => Operation::List,
        "GET" | "HEAD" => Operation::Read,
        "LIST" => Operation::List,
        "POST" | "PUT" => Operation::Update,
        "PATCH" => Operation::Patch,
        "DELETE" => Operation::Delete,
        other => {
            return Err(VaultError::Unsupported(format!(
                "method `{other}` on `{path}`"
            )))
        }
    })
}

/// Whether `cidr` (`10.0.0.0/8`, or a bare address) contains `ip`.
pub(crate) fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let (addr, bits) = match cidr.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (cidr, None),
    };
    let Ok(net) = addr.trim().parse::<IpAddr>() else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// The audit record of one request, filled in as the request goes.
struct Audited {
    path: String,
    /// The operation, or the method as sent when it maps to none.
    operation: String,
    client: Option<IpAddr>,
    actor: Option<String>,
    accessor: Option<String>,
    mount_type: Option<String>,
    request: Option<Value>,
}

impl Audited {
    fn new(path: &str, method: &str, client: Option<IpAddr>) -> Self {
        Self {
            path: shorten(path),
            operation: shorten(method),
            client,
            actor: None,
            accessor: None,
            mount_type: None,
            request: None,
        }
    }

    fn caller(&mut self, token: &TokenEntry) {
        self.actor = Some(token.display_name.clone());
        self.accessor = Some(token.accessor.clone());
    }

    fn request_data(&mut self, audit: &AuditLog, body: &Map<String, Value>) {
        if !body.is_empty() {
            self.request = Some(hmac_values(audit, &Value::Object(body.clone())));
        }
    }

    fn finish(self, audit: &AuditLog, result: &Result<Response, VaultError>) {
        let (outcome, status) = match result {
            Ok(r) => (Outcome::Allow, r.status),
            Err(VaultError::PermissionDenied) => (Outcome::Deny, 403),
            Err(e) => (Outcome::Failure, e.status()),
        };
        let mut entry = AuditEntry::new("vault.request", outcome)
            .subject(self.path)
            .detail("operation", self.operation)
            .detail("status", status);
        if let Some(a) = self.actor {
            entry = entry.actor(a);
        }
        if let Some(a) = self.accessor {
            entry = entry.detail("accessor", a);
        }
        if let Some(ip) = self.client {
            entry = entry.source_ip(ip);
        }
        if let Some(m) = self.mount_type {
            entry = entry.detail("mount_type", m);
        }
        if let Some(r) = self.request {
            entry = entry.detail("request", r);
        }
        match result {
            Ok(r) => {
                if let Some(data) = &r.data {
                    entry = entry.detail("response", hmac_values(audit, data));
                }
                if let Some(l) = &r.lease {
                    entry = entry.detail("lease_id", l.lease_id.clone());
                }
                if let Some(a) = &r.auth {
                    entry = entry.detail("issued_accessor", a.accessor.clone());
                }
            }
            Err(e) => entry = entry.detail("error", e.to_string()),
        }
        audit.record(entry);
    }
}

/// At most 256 characters of an untrusted string, for the audit log.
fn shorten(s: &str) -> String {
    s.chars().take(256).collect()
}

/// A copy of an error for auditing (the originals are not `Clone`: some wrap I/O errors).
fn clone_error(e: &VaultError) -> VaultError {
    match e {
        VaultError::PermissionDenied => VaultError::PermissionDenied,
        VaultError::Sealed => VaultError::Sealed,
        other => VaultError::Invalid(other.to_string()),
    }
}

/// The same JSON shape with every string, number and boolean replaced by its HMAC, so the
/// audit log shows which fields were sent and lets a known value be matched, but holds none.
pub(crate) fn hmac_values(audit: &AuditLog, value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), hmac_values(audit, v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| hmac_values(audit, v)).collect()),
        Value::Null => Value::Null,
        Value::String(s) => Value::String(audit.hmac(s)),
        other => Value::String(audit.hmac(&other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked() {
        assert_eq!(clean_path("/secret/data/a/").unwrap(), "secret/data/a");
        for bad in ["", "/", "a//b", "a/../b", "a/./b", "a/\u{0}"] {
            assert!(clean_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn methods_map_to_operations() {
        let q = BTreeMap::from([("list".to_owned(), "true".to_owned())]);
        assert_eq!(operation("GET", &q, "p").unwrap(), Operation::List);
        assert_eq!(
            operation("GET", &BTreeMap::new(), "p").unwrap(),
            Operation::Read
        );
        assert_eq!(
            operation("LIST", &BTreeMap::new(), "p").unwrap(),
            Operation::List
        );
        assert!(operation("TRACE", &BTreeMap::new(), "p").is_err());
    }

    #[test]
    fn cidrs() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(cidr_contains("10.0.0.0/8", ip("10.1.2.3")));
        assert!(!cidr_contains("10.0.0.0/8", ip("11.1.2.3")));
        assert!(cidr_contains("127.0.0.1", ip("127.0.0.1")));
        assert!(cidr_contains("::1/128", ip("::1")));
        assert!(!cidr_contains("::1/128", ip("127.0.0.1")));
        assert!(!cidr_contains("garbage", ip("127.0.0.1")));
    }
}
