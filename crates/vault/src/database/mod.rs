//! The PostgreSQL database secrets engine, with Vault's HTTP API (`database/`).
//!
//! A root connection (`config/<name>`, its password sealed, changed by `rotate-root` so that
//! nobody knows it) is used to create one PostgreSQL role per `creds/<role>` request, bound to a
//! durable lease: the lease is written `Pending` before the role exists and `Active` before the
//! answer leaves, so a crash leaves a lease to clean up, never an unknown role. Revocation ends
//! the role's sessions, hands over or drops what it owns in every database, and drops it; it is
//! idempotent and the lease manager retries it until it succeeds. A reconciler drops roles with
//! our prefix that no lease knows; static roles rotate an existing user's password with two
//! logins used in turn, so the previous credential stays valid for an overlap window.
//!
//! Submodules: [`config`] (connections), [`pool`] (root clients), [`template`] (statement
//! templates), [`roles`] (dynamic roles), [`creds`] (issue, revoke, renew), [`static_roles`],
//! [`reconcile`], [`rotate`] (rotate-root), [`util`].

mod config;
mod creds;
mod pool;
mod reconcile;
mod roles;
mod rotate;
mod static_roles;
mod template;
#[cfg(test)]
mod tests;
mod util;

use crate::backend::{Backend, MountEntry};
use crate::barrier::Barrier;
use crate::error::VaultError;
use crate::lease::{Lease, LeaseEngine, LeaseManager};
use crate::request::{Operation, Request, Response};
use async_trait::async_trait;
use config::Connection;
use pool::{Pooled, Pools};
use roles::Role;
use seawall_audit::{AuditEntry, AuditLog, Outcome};
use seawall_core::clock::SharedClock;
use seawall_core::event::{EventKind, EventSink, SecurityEvent, Severity};
use serde::de::DeserializeOwned;
use serde::Serialize;
use static_roles::StaticRole;
use std::sync::Arc;
use std::time::Duration;

/// How often the reconciler runs on its own (it also runs right after startup).
const RECONCILE_EVERY: Duration = Duration::from_secs(600);
/// How often static roles are checked for a due rotation or an ending overlap.
const STATIC_TICK: Duration = Duration::from_secs(1);

/// The `database` engine of one mount.
pub struct DatabaseBackend {
    mount: MountEntry,
    barrier: Barrier,
    leases: Arc<LeaseManager>,
    clock: SharedClock,
    events: Arc<dyn EventSink>,
    audit: AuditLog,
    pools: Pools,
    /// Serialises writes of connections and static roles with `rotate-root` and rotations.
    admin: tokio::sync::Mutex<()>,
}

impl DatabaseBackend {
    /// The engine for `mount`; registers itself with `leases` as the engine of its leases.
    pub fn new(
        mount: &MountEntry,
        barrier: Barrier,
        leases: Arc<LeaseManager>,
        clock: SharedClock,
        events: Arc<dyn EventSink>,
        audit: AuditLog,
    ) -> Arc<Self> {
        let me = Arc::new(Self {
            mount: mount.clone(),
            barrier,
            leases: leases.clone(),
            clock,
            events,
            audit,
            pools: Pools::default(),
            admin: tokio::sync::Mutex::new(()),
        });
        leases.register_engine(&mount.path, me.clone());
        me
    }

    /// Runs the background jobs until `stop` turns true: static-role rotations (checked every
    /// second) and the reconciler (after startup, then every 10 minutes).
    pub fn spawn(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        tokio::spawn(async move {
            let mut next_reconcile = tokio::time::Instant::now();
            loop {
                if *stop.borrow() {
                    break;
                }
                self.static_tick().await;
                if tokio::time::Instant::now() >= next_reconcile {
                    self.reconcile_all().await;
                    next_reconcile = tokio::time::Instant::now() + RECONCILE_EVERY;
                }
                tokio::select! {
                    changed = stop.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                    _ = tokio::time::sleep(STATIC_TICK) => {}
                }
            }
        });
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("db/{}/{kind}/{name}", self.mount.uuid)
    }

    fn load<T: DeserializeOwned>(&self, kind: &str, name: &str) -> Result<Option<T>, VaultError> {
        self.barrier.get(&self.key(kind, name))
    }

    fn save<T: Serialize>(&self, kind: &str, name: &str, value: &T) -> Result<(), VaultError> {
        self.barrier.put(&self.key(kind, name), value)
    }

    fn names(&self, kind: &str) -> Result<Vec<String>, VaultError> {
        self.barrier
            .children(&format!("db/{}/{kind}/", self.mount.uuid))
    }

    fn connection(&self, name: &str) -> Result<Connection, VaultError> {
        self.load("config", name)?
            .ok_or_else(|| VaultError::NotFound(format!("unknown connection `{name}`")))
    }

    fn role(&self, name: &str) -> Result<Option<Role>, VaultError> {
        self.load("role", name)
    }

    /// A root client for connection `name`. When the stored password is refused and a
    /// `rotate-root` left a pending one, that one is tried and, if it works, kept.
    async fn root_client(&self, name: &str) -> Result<(Connection, Pooled), VaultError> {
        let conn = self.connection(name)?;
        let first = self
            .pools
            .pool(name, &conn, &conn.password)?
            .get(&conn.password)
            .await;
        let err = match first {
            Ok(c) => return Ok((conn, c)),
            Err(e) => e,
        };
        let Some(pending) = conn.pending_password.clone().filter(|_| err.auth) else {
            return Err(err.error);
        };
        let client = self
            .pools
            .pool(name, &conn, &pending)?
            .get(&pending)
            .await
            .map_err(|_| err.error)?;
        let mut fresh = self.connection(name)?;
        if fresh.pending_password.as_deref() == Some(pending.as_str()) {
            fresh.password = pending;
            fresh.pending_password = None;
            self.save("config", name, &fresh)?;
            tracing::warn!(connection = %name, "the root password of an interrupted rotate-root was in effect; it is now the stored one");
        }
        Ok((fresh, client))
    }

    fn prefix_of_role(&self, role: &str) -> String {
        format!("{}creds/{role}/", self.mount.path)
    }

    /// Every lease of this mount whose credential lives on connection `conn`.
    fn leases_of_connection(&self, conn: &str) -> Vec<Lease> {
        self.leases
            .list(&self.mount.path)
            .iter()
            .filter_map(|id| self.leases.lookup(id))
            .filter(|l| l.internal.get("connection").and_then(|v| v.as_str()) == Some(conn))
            .collect()
    }

    fn event(&self, name: &str, severity: Severity, context: serde_json::Value) {
        let context = match context {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        self.events.publish(SecurityEvent {
            time: self.clock.now(),
            severity,
            kind: EventKind::Other {
                name: name.to_owned(),
            },
            context,
        });
    }

    fn audit(&self, action: &str, ok: bool, subject: &str, detail: Option<(&str, String)>) {
        let outcome = if ok {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let mut e = AuditEntry::new(action, outcome)
            .actor("system")
            .subject(subject)
            .detail("mount", self.mount.path.clone());
        if let Some((k, v)) = detail {
            e = e.detail(k, v);
        }
        self.audit.record(e);
    }

    async fn write_config(&self, req: &Request, name: &str) -> Result<Response, VaultError> {
        let _g = self.admin.lock().await;
        let old: Option<Connection> = self.load("config", name)?;
        let mut conn = Connection::from_request(old.as_ref(), req)?;
        if req.data.contains_key("password") {
            conn.pending_password = None;
        }
        if conn.verify_connection {
            let cfg = conn.pg_config(&conn.password, None)?;
            let client = pool::connect(name, &cfg, conn.tls()?.as_ref(), &conn.password)
                .await
                .map_err(|e| {
                    VaultError::invalid(format!("error verifying connection `{name}`: {}", e.error))
                })?;
            client.simple_query("SELECT 1").await.map_err(|e| {
                VaultError::invalid(format!(
                    "error verifying connection `{name}`: {}",
                    pool::describe(&e, &[&conn.password])
                ))
            })?;
        }
        self.check_retarget(req, name, old.as_ref(), &conn).await?;
        self.save("config", name, &conn)?;
        self.pools.reset(name);
        self.audit("vault.database.config.write", true, name, None);
        Ok(Response::no_content())
    }

    async fn delete_config(&self, req: &Request, name: &str) -> Result<Response, VaultError> {
        let _g = self.admin.lock().await;
        if self.load::<Connection>("config", name)?.is_none() {
            return Ok(Response::no_content());
        }
        let mut users = Vec::new();
        for s in self.names("static")? {
            if let Some(r) = self.load::<StaticRole>("static", &s)? {
                if r.db_name == name {
                    users.push(s);
                }
            }
        }
        if !users.is_empty() {
            return Err(VaultError::invalid(format!(
                "connection `{name}` is used by static roles {}; delete them first",
                users.join(", ")
            )));
        }
        let live = self.leases_of_connection(name);
        if !live.is_empty() {
            if !revoke_asked(req) {
                return Err(VaultError::invalid(format!(
                    "connection `{name}` still has {} live leases; revoke them first or pass revoke_leases=true",
                    live.len()
                )));
            }
            for l in &live {
                self.leases.revoke(&l.id).await.map_err(|e| {
                    VaultError::Upstream(format!(
                        "connection `{name}` kept: revoking lease `{}` failed: {e}",
                        l.id
                    ))
                })?;
            }
        }
        self.barrier.delete(&self.key("config", name))?;
        self.pools.reset(name);
        self.audit("vault.database.config.delete", true, name, None);
        Ok(Response::no_content())
    }
}

/// `?revoke_leases=true` (Seawall): revoke a role's or connection's leases before deleting it.
fn revoke_asked(req: &Request) -> bool {
    req.param("revoke_leases").as_deref() == Some("true")
}

/// Connection and role names: letters, digits, `-`, `_`, `.`; at most 128 bytes.
fn check_name(kind: &str, name: &str) -> Result<(), VaultError> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(VaultError::invalid(format!(
            "{kind} name `{name}` is invalid: use 1-128 letters, digits, `-`, `_` or `.`"
        )));
    }
    Ok(())
}

fn list(keys: Vec<String>) -> Result<Response, VaultError> {
    Response::list(keys)
}

#[async_trait]
impl Backend for DatabaseBackend {
    fn kind(&self) -> &'static str {
        "database"
    }

    async fn handle(&self, req: &Request) -> Result<Response, VaultError> {
        use Operation::*;
        let rel = req.rel.trim_matches('/');
        let (head, name) = match rel.split_once('/') {
            Some((h, n)) => (h, n),
            None => (rel, ""),
        };
        let op = req.operation;
        if name.is_empty() {
            return match (head, op) {
                ("config", List | Read) => list(self.names("config")?),
                ("roles", List | Read) => list(self.names("role")?),
                ("static-roles", List | Read) => list(self.names("static")?),
                _ => Err(VaultError::NotFound(format!(
                    "unsupported path `{}`",
                    req.path
                ))),
            };
        }
        let kind = match head {
            "config" | "rotate-root" | "reset" | "reconcile" => "connection",
            _ => "role",
        };
        check_name(kind, name)?;
        match (head, op) {
            ("config", Read) => Ok(Response::data(self.connection(name)?.view())),
            ("config", Create | Update) => self.write_config(req, name).await,
            ("config", Delete) => self.delete_config(req, name).await,
            ("roles", Read) => self.read_role(name),
            ("roles", Create | Update) => self.write_role(req, name).await,
            ("roles", Delete) => self.delete_role(req, name).await,
            ("creds", Read | Update) => self.issue(req, name).await,
            ("static-roles", Read) => self.read_static(name),
            ("static-roles", Create | Update) => self.write_static(req, name).await,
            ("static-roles", Delete) => self.delete_static(name).await,
            ("static-creds", Read) => self.static_creds(name),
            ("rotate-role", Create | Update) => self.rotate_role(name).await,
            ("rotate-root", Create | Update) => self.rotate_root(name).await,
            ("reset", Create | Update) => {
                self.connection(name)?;
                self.pools.reset(name);
                Ok(Response::no_content())
            }
            ("reconcile", Create | Update) => self.reconcile_request(name).await,
            (
                "config" | "roles" | "creds" | "static-roles" | "static-creds" | "rotate-role"
                | "rotate-root" | "reset" | "reconcile",
                _,
            ) => Err(VaultError::Unsupported(format!(
                "{} on `{}`",
                op.as_str(),
                req.path
            ))),
            _ => Err(VaultError::NotFound(format!(
                "unsupported path `{}`",
                req.path
            ))),
        }
    }

    async fn exists(&self, req: &Request) -> Result<bool, VaultError> {
        let rel = req.rel.trim_matches('/');
        let Some((head, name)) = rel.split_once('/') else {
            return Ok(true);
        };
        let kind = match head {
            "config" => "config",
            "roles" => "role",
            "static-roles" => "static",
            _ => return Ok(true),
        };
        Ok(self
            .barrier
            .get::<serde_json::Value>(&self.key(kind, name))?
            .is_some())
    }
}

#[async_trait]
impl LeaseEngine for DatabaseBackend {
    async fn revoke(&self, lease: &Lease) -> Result<(), VaultError> {
        self.revoke_lease(lease).await
    }

    async fn renew(&self, lease: &Lease, new_expire_time: i64) -> Result<(), VaultError> {
        self.renew_lease(lease, new_expire_time).await
    }
}
