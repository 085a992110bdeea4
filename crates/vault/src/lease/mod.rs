//! Leases: the durable record of every dynamic credential the vault has handed out, and the
//! manager that renews, expires and revokes them.
//!
//! A lease is written through the [`Barrier`] before anything depends on it: `Pending` before
//! the engine creates the external credential, `Active` before the response goes out. The
//! manager keeps every lease in memory, indexed by due time and by the token that obtained it,
//! and its background loop ([`LeaseManager::spawn`]) revokes leases when they expire. A failed
//! revocation is never dropped: it is retried with exponential backoff (1 s doubling to 60 s),
//! forever, and after 5 failed attempts or 5 minutes the lease is marked `failing`, an event is
//! published and an audit entry written, so operators see it (`seawall leases list --failing`).

mod manager;
mod worker;

#[cfg(test)]
pub(crate) mod tests;

pub use manager::LeaseManager;

use crate::error::VaultError;
use crate::token::rfc3339;
use async_trait::async_trait;
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Where a lease is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseState {
    /// Recorded before the engine made the credential; not yet acknowledged to a client. A
    /// `Pending` lease found at startup means creation was interrupted: it is revoked.
    Pending,
    /// Acknowledged to a client; revoked at `expire_time`.
    Active,
    /// Revocation is due or under way (retried at `next_attempt`).
    Revoking,
}

/// One lease.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    /// `database/creds/readonly/<random>`, as Vault shapes them.
    pub id: String,
    /// The mount of the engine that revokes it, with trailing slash: `database/`.
    pub mount: String,
    /// The request path that created it: `database/creds/readonly`.
    pub path: String,
    /// Unix seconds.
    pub issue_time: i64,
    /// Unix seconds; the lease is revoked then.
    pub expire_time: i64,
    /// Unix seconds; renewals never go past it (0: no limit of its own).
    pub max_expire_time: i64,
    pub renewable: bool,
    /// `TokenEntry.id` of the token that obtained it; revoking that token revokes the lease.
    pub token: Option<String>,
    /// The engine's own data (database role name, connection); never returned to clients.
    pub internal: Value,
    pub state: LeaseState,
    /// Failed revocation attempts so far.
    pub attempts: u32,
    /// The last revocation error (no secrets: engines word it).
    pub last_error: Option<String>,
    /// Unix seconds of the next revocation attempt (for `Revoking`).
    pub next_attempt: i64,
    /// Revocation has failed 5 times or for 5 minutes; still retried.
    pub failing: bool,
    /// Unix seconds of the last renewal.
    #[serde(default)]
    pub last_renewal: Option<i64>,
    /// Unix seconds of the first failed revocation attempt.
    #[serde(default)]
    pub first_failure: Option<i64>,
}

impl std::fmt::Debug for Lease {
    // `internal` is the engine's business; keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.id)
            .field("mount", &self.mount)
            .field("state", &self.state)
            .field("expire_time", &self.expire_time)
            .field("attempts", &self.attempts)
            .field("failing", &self.failing)
            .finish_non_exhaustive()
    }
}

impl Lease {
    /// A new `Pending` lease for a credential created at `path` below `mount`, issued at `now`
    /// for `ttl` seconds and renewable up to `max_ttl` seconds after `now` (0: no limit of its
    /// own). Its id is `<path>/<24 random base62 characters>`. It is renewable and bound to no
    /// token; set `token`, `internal` and `renewable` before [`LeaseManager::create_pending`].
    pub fn new(mount: &str, path: &str, now: i64, ttl: i64, max_ttl: i64) -> Self {
        let mount = if mount.ends_with('/') {
            mount.to_owned()
        } else {
            format!("{mount}/")
        };
        let path = path.trim_matches('/');
        let ttl = ttl.max(0);
        let max_expire_time = if max_ttl > 0 { now + max_ttl } else { 0 };
        let mut expire_time = now + ttl;
        if max_expire_time > 0 {
            expire_time = expire_time.min(max_expire_time);
        }
        Self {
            id: format!("{path}/{}", random_base62(24)),
            mount,
            path: path.to_owned(),
            issue_time: now,
            expire_time,
            max_expire_time,
            renewable: true,
            token: None,
            internal: Value::Null,
            state: LeaseState::Pending,
            attempts: 0,
            last_error: None,
            next_attempt: 0,
            failing: false,
            last_renewal: None,
            first_failure: None,
        }
    }

    /// Seconds left before it expires (never negative).
    pub fn ttl(&self, now: i64) -> i64 {
        (self.expire_time - now).max(0)
    }
}

/// What an engine does when one of its leases ends or is renewed.
#[async_trait]
pub trait LeaseEngine: Send + Sync {
    /// Removes the credential behind the lease. Must be idempotent: it may run again after a
    /// crash or a timeout, on a credential that is already gone.
    async fn revoke(&self, lease: &Lease) -> Result<(), VaultError>;
    /// Extends the credential to `new_expire_time` (Unix seconds).
    async fn renew(&self, lease: &Lease, new_expire_time: i64) -> Result<(), VaultError>;
}

/// The `data` of Vault's `sys/leases/lookup` answer for `lease`.
pub fn lookup_response(lease: &Lease, now: i64) -> Value {
    json!({
        "id": lease.id,
        "issue_time": rfc3339(lease.issue_time),
        "expire_time": rfc3339(lease.expire_time),
        "last_renewal": lease.last_renewal.map(rfc3339),
        "renewable": lease.renewable,
        "ttl": lease.ttl(now),
    })
}

/// `n` random characters from `[A-Za-z0-9]`, from the operating system's generator.
pub(crate) fn random_base62(n: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, n)
}
