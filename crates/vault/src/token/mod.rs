//! The token store: service tokens as Vault issues them, with TTLs, renewal, use limits,
//! parent/child trees and revocation.
//!
//! A token is `hvs.` followed by 32 random base62 characters. It is handed to the client once
//! and never stored or logged: the store keys every entry by an HMAC of the token (key made
//! once, sealed at `sys/token-hmac-key`). Storage layout, all sealed by the barrier:
//!
//! - `token/id/<hmac>` — the [`TokenEntry`];
//! - `token/accessor/<accessor>` — the hmac id, for the `*-accessor` paths;
//! - `token/parent/<parent hmac>/<child hmac>` — the tree, so revoking a token finds its
//!   descendants without scanning every token.
//!
//! Lookups go through an in-memory cache that revocation invalidates before it returns (an
//! epoch counter keeps a lookup racing a revocation from re-inserting the revoked entry), so a
//! revoked token is never served. Revoking a token revokes its descendants and schedules every
//! lease obtained with any of them through the attached [`LeaseManager`].

mod backend;
mod expiry;
mod fields;

#[cfg(test)]
mod tests;

pub use backend::{lookup_data, TokenBackend};
pub use fields::{bool_field, duration_field, parse_duration, rfc3339, string_list};

use crate::barrier::{Barrier, Batch};
use crate::error::VaultError;
use crate::lease::{random_base62, LeaseManager};
use crate::request::{AuthInfo, TokenEntry};
use hmac::{Hmac, Mac};
use seawall_audit::{AuditEntry, AuditLog, Outcome};
use seawall_core::clock::SharedClock;
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, Weak};
use tokio::sync::Notify;
use zeroize::Zeroizing;

/// TTL of a token created without one: 768 hours, as Vault.
pub const DEFAULT_TTL: i64 = 768 * 3600;
/// The system maximum TTL (32 days, as Vault): non-periodic tokens never live longer.
pub const MAX_TTL: i64 = 768 * 3600;

const HMAC_KEY: &str = "sys/token-hmac-key";
const ID_PREFIX: &str = "token/id/";
const ACCESSOR_PREFIX: &str = "token/accessor/";
const PARENT_PREFIX: &str = "token/parent/";

fn id_key(id: &str) -> String {
    format!("{ID_PREFIX}{id}")
}
fn accessor_key(acc: &str) -> String {
    format!("{ACCESSOR_PREFIX}{acc}")
}
fn children_prefix(parent: &str) -> String {
    format!("{PARENT_PREFIX}{parent}/")
}

/// What to create. Durations are seconds; 0 means "not set".
#[derive(Debug, Clone)]
pub struct TokenSpec {
    /// The creating token. Its policies bound the child's unless it holds `root`.
    pub parent: Option<Arc<TokenEntry>>,
    /// Empty: the parent's policies (none without a parent). `default` is added unless
    /// `no_default_policy` or the token holds `root`.
    pub policies: Vec<String>,
    /// 0: the default (768 h), or no expiry for a `root` token without other limits.
    pub ttl: i64,
    pub explicit_max_ttl: i64,
    /// Periodic token: every renewal sets the TTL to this, with no system maximum.
    pub period: i64,
    pub renewable: bool,
    /// 0: unlimited.
    pub num_uses: u32,
    pub display_name: String,
    pub meta: BTreeMap<String, String>,
    /// The creating path; empty: `auth/token/create`.
    pub path: String,
    pub bound_cidrs: Vec<String>,
    /// Create an orphan even though there is a parent. The caller must have checked that the
    /// parent is root or has `sudo` on the path.
    pub no_parent: bool,
    pub no_default_policy: bool,
}

impl Default for TokenSpec {
    fn default() -> Self {
        Self {
            parent: None,
            policies: Vec::new(),
            ttl: 0,
            explicit_max_ttl: 0,
            period: 0,
            renewable: true,
            num_uses: 0,
            display_name: String::new(),
            meta: BTreeMap::new(),
            path: String::new(),
            bound_cidrs: Vec::new(),
            no_parent: false,
            no_default_policy: false,
        }
    }
}

/// Sorted, de-duplicated, trimmed policy names without empties.
fn sanitize_policies(p: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = p
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    set.into_iter().collect()
}

/// Issues, looks up, renews and revokes tokens. Share it as `Arc`.
pub struct TokenStore {
    barrier: Barrier,
    clock: SharedClock,
    key: Hmac<Sha256>,
    cache: RwLock<HashMap<String, Arc<TokenEntry>>>,
    /// Bumped (under the cache lock) by every write and revocation.
    epoch: AtomicU64,
    /// Serialises every change to stored tokens.
    write: Mutex<()>,
    /// (expire_time, id) of every token that expires.
    expiry: Mutex<BTreeSet<(i64, String)>>,
    wake: Notify,
    leases: OnceLock<Weak<LeaseManager>>,
    audit: OnceLock<AuditLog>,
}

impl TokenStore {
    /// Opens the store, creating the sealed HMAC key on first use, and loads the expiry index.
    pub fn open(barrier: Barrier, clock: SharedClock) -> Result<Arc<Self>, VaultError> {
        let key_hex: Zeroizing<String> = match barrier.get::<String>(HMAC_KEY)? {
            Some(k) => Zeroizing::new(k),
            None => {
                let mut fresh = Zeroizing::new([0u8; 32]);
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, fresh.as_mut());
                let k = Zeroizing::new(hex::encode(fresh.as_ref()));
                barrier.put(HMAC_KEY, &*k)?;
                k
            }
        };
        let raw =
            Zeroizing::new(hex::decode(key_hex.as_str()).map_err(|_| {
                VaultError::Internal(format!("stored value `{HMAC_KEY}` is not hex"))
            })?);
        let key = Hmac::<Sha256>::new_from_slice(&raw)
            .map_err(|_| VaultError::Internal(format!("stored value `{HMAC_KEY}` is unusable")))?;
        let mut expiry = BTreeSet::new();
        for k in barrier.keys(ID_PREFIX)? {
            if let Some(e) = barrier.get::<TokenEntry>(&k)? {
                if e.expire_time > 0 {
                    expiry.insert((e.expire_time, e.id.clone()));
                }
            }
        }
        Ok(Arc::new(Self {
            barrier,
            clock,
            key,
            cache: RwLock::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            write: Mutex::new(()),
            expiry: Mutex::new(expiry),
            wake: Notify::new(),
            leases: OnceLock::new(),
            audit: OnceLock::new(),
        }))
    }

    /// Revoking a token from now on also revokes the leases it obtained through `leases`, and
    /// the lease manager's loop revokes tokens when they expire.
    pub fn attach_leases(self: &Arc<Self>, leases: &Arc<LeaseManager>) {
        let _ = self.leases.set(Arc::downgrade(leases));
        leases.attach_tokens(self);
    }

    /// Token creation, renewal and revocation are audited from now on.
    pub fn set_audit(&self, audit: AuditLog) {
        let _ = self.audit.set(audit);
    }

    fn audit(&self, entry: AuditEntry) {
        if let Some(a) = self.audit.get() {
            a.record(entry);
        }
    }

    fn lock_write(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The storage id (HMAC) of a token string.
    pub fn hash(&self, token: &str) -> String {
        let mut mac = self.key.clone();
        mac.update(token.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn alive(e: &TokenEntry, now: i64) -> bool {
        e.expire_time == 0 || e.expire_time > now
    }

    /// The entry of `token`; `None` when it is unknown, expired or revoked.
    pub fn lookup(&self, token: &str) -> Result<Option<Arc<TokenEntry>>, VaultError> {
        if token.is_empty() {
            return Ok(None);
        }
        self.lookup_id(&self.hash(token))
    }

    /// The entry with storage id `id`; `None` when unknown, expired or revoked.
    pub fn lookup_id(&self, id: &str) -> Result<Option<Arc<TokenEntry>>, VaultError> {
        let now = self.now();
        if let Some(e) = self.cache.read().unwrap_or_else(|p| p.into_inner()).get(id) {
            return Ok(Self::alive(e, now).then(|| Arc::clone(e)));
        }
        let start = self.epoch.load(Ordering::SeqCst);
        let Some(entry) = self.barrier.get::<TokenEntry>(&id_key(id))? else {
            return Ok(None);
        };
        let entry = Arc::new(entry);
        {
            let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
            // A revocation since we read storage may have deleted this entry: do not cache it.
            if self.epoch.load(Ordering::SeqCst) == start {
                cache.insert(id.to_owned(), Arc::clone(&entry));
            }
        }
        Ok(Self::alive(&entry, now).then_some(entry))
    }

    /// The entry behind `accessor`; `None` when unknown, expired or revoked.
    pub fn lookup_accessor(&self, accessor: &str) -> Result<Option<Arc<TokenEntry>>, VaultError> {
        if accessor.is_empty() || accessor.contains('/') {
            return Ok(None);
        }
        match self.barrier.get::<String>(&accessor_key(accessor))? {
            Some(id) => self.lookup_id(&id),
            None => Ok(None),
        }
    }

    /// The accessors of every stored token, sorted.
    pub fn accessors(&self) -> Result<Vec<String>, VaultError> {
        Ok(self
            .barrier
            .keys(ACCESSOR_PREFIX)?
            .into_iter()
            .map(|k| k[ACCESSOR_PREFIX.len()..].to_owned())
            .collect())
    }

    /// Puts a just-written entry in the cache. Bumping the epoch stops a lookup that read the
    /// previous version from storage from caching it over this one.
    fn cache_put(&self, e: Arc<TokenEntry>) {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        cache.insert(e.id.clone(), e);
    }

    fn set_expiry(&self, id: &str, old: i64, new: i64) {
        let mut x = self.expiry.lock().unwrap_or_else(|p| p.into_inner());
        if old > 0 {
            x.remove(&(old, id.to_owned()));
        }
        if new > 0 {
            let earlier = x.first().is_none_or(|(d, _)| new < *d);
            x.insert((new, id.to_owned()));
            if earlier {
                self.wake.notify_one();
                if let Some(lm) = self.leases.get().and_then(Weak::upgrade) {
                    lm.wake();
                }
            }
        }
    }

    /// Counts one use of a use-limited token; the last use revokes it (and its tree). Call it
    /// before serving the request; an error means the token has no use left.
    pub fn consume_use(&self, entry: &TokenEntry) -> Result<(), VaultError> {
        if entry.num_uses == 0 {
            return Ok(());
        }
        let guard = self.lock_write();
        let Some(mut current) = self.barrier.get::<TokenEntry>(&id_key(&entry.id))? else {
            return Err(VaultError::PermissionDenied);
        };
        match current.num_uses {
            0 => Ok(()),
            1 => {
                drop(guard);
                self.revoke_tree(&entry.id).map(|_| ())
            }
            n => {
                current.num_uses = n - 1;
                self.barrier.put(&id_key(&current.id), &current)?;
                self.cache_put(Arc::new(current));
                Ok(())
            }
        }
    }

    /// Creates a token; returns the token string (shown once) and its entry.
    pub fn create(&self, spec: TokenSpec) -> Result<(String, Arc<TokenEntry>), VaultError> {
        let now = self.now();
        let mut policies = sanitize_policies(&spec.policies);
        if policies.is_empty() {
            if let Some(p) = &spec.parent {
                policies = p.policies.clone();
            }
        }
        if let Some(parent) = &spec.parent {
            if !parent.is_root() {
                if let Some(extra) = policies
                    .iter()
                    .find(|p| *p != "default" && !parent.policies.contains(p))
                {
                    return Err(VaultError::invalid(format!(
                        "child policies must be a subset of the parent's: the parent does not hold `{extra}`"
                    )));
                }
            }
        }
        let is_root = policies.iter().any(|p| p == "root");
        if !spec.no_default_policy && !is_root && !policies.iter().any(|p| p == "default") {
            policies.push("default".into());
            policies.sort();
        }
        for (name, v) in [
            ("ttl", spec.ttl),
            ("explicit_max_ttl", spec.explicit_max_ttl),
            ("period", spec.period),
        ] {
            if v < 0 {
                return Err(VaultError::invalid(format!(
                    "`{name}` {v} is negative; give seconds"
                )));
            }
        }
        for c in &spec.bound_cidrs {
            if c.parse::<ipnet::IpNet>().is_err() && c.parse::<std::net::IpAddr>().is_err() {
                return Err(VaultError::invalid(format!(
                    "bound_cidrs entry `{c}` is not an address or CIDR block"
                )));
            }
        }
        let mut ttl = if spec.period > 0 {
            spec.period
        } else if spec.ttl > 0 {
            spec.ttl.min(MAX_TTL)
        } else if is_root && spec.explicit_max_ttl == 0 {
            0
        } else {
            DEFAULT_TTL
        };
        if spec.explicit_max_ttl > 0 {
            ttl = if ttl == 0 {
                spec.explicit_max_ttl
            } else {
                ttl.min(spec.explicit_max_ttl)
            };
        }
        let parent_id = match (&spec.parent, spec.no_parent) {
            (Some(p), false) => Some(p.id.clone()),
            _ => None,
        };
        let token = Zeroizing::new(format!("hvs.{}", random_base62(32)));
        let id = self.hash(&token);
        let entry = TokenEntry {
            id: id.clone(),
            accessor: random_base62(24),
            parent: parent_id.clone(),
            policies,
            meta: spec.meta,
            display_name: spec.display_name,
            path: if spec.path.is_empty() {
                "auth/token/create".into()
            } else {
                spec.path
            },
            num_uses: spec.num_uses,
            creation_time: now,
            expire_time: if ttl == 0 { 0 } else { now + ttl },
            ttl,
            explicit_max_ttl: spec.explicit_max_ttl,
            period: spec.period,
            renewable: spec.renewable && ttl > 0,
            bound_cidrs: spec.bound_cidrs,
        };
        let mut batch = Batch::new();
        batch.put(id_key(&id), &entry);
        batch.put(accessor_key(&entry.accessor), &id);
        if let Some(pid) = &parent_id {
            batch.put(format!("{}{id}", children_prefix(pid)), &true);
        }
        {
            let _guard = self.lock_write();
            if let Some(pid) = &parent_id {
                // The parent may have been revoked since the caller looked it up.
                if self.barrier.get::<TokenEntry>(&id_key(pid))?.is_none() {
                    return Err(VaultError::PermissionDenied);
                }
            }
            self.barrier.commit(batch)?;
            let entry = Arc::new(entry.clone());
            self.cache_put(entry);
        }
        self.set_expiry(&id, 0, entry.expire_time);
        let mut audit = AuditEntry::new("vault.token.create", Outcome::Success)
            .subject(entry.accessor.clone())
            .detail("policies", entry.policies.clone())
            .detail("path", entry.path.clone())
            .detail("ttl", entry.ttl);
        if let Some(p) = &spec.parent {
            audit = audit.actor(p.accessor.clone());
        }
        self.audit(audit);
        let token = token.as_str().to_owned();
        Ok((token, Arc::new(entry)))
    }

    /// Creates a root token (policy `root`, no expiry, orphan) for `seawall operator init`.
    pub fn create_root(&self) -> Result<String, VaultError> {
        let (token, _) = self.create(TokenSpec {
            policies: vec!["root".into()],
            display_name: "root".into(),
            path: "auth/token/root".into(),
            no_default_policy: true,
            ..TokenSpec::default()
        })?;
        Ok(token)
    }

    /// The `auth` block of a response for `token` with entry `e`.
    pub fn auth_info(token: &str, e: &TokenEntry, now: i64) -> AuthInfo {
        AuthInfo {
            client_token: token.to_owned(),
            accessor: e.accessor.clone(),
            policies: e.policies.clone(),
            token_policies: e.policies.clone(),
            metadata: (!e.meta.is_empty()).then(|| e.meta.clone()),
            lease_duration: if e.expire_time == 0 {
                0
            } else {
                (e.expire_time - now).max(0)
            },
            renewable: e.renewable,
            entity_id: String::new(),
            token_type: "service".into(),
            orphan: e.parent.is_none(),
            num_uses: e.num_uses,
            mfa_requirement: None,
        }
    }

    /// Renews token `id`: `increment` seconds from now (0: its creation TTL; periodic tokens
    /// always get their period), never past its explicit max TTL nor, unless periodic, the
    /// system maximum counted from creation.
    pub fn renew(&self, id: &str, increment: i64) -> Result<Arc<TokenEntry>, VaultError> {
        if increment < 0 {
            return Err(VaultError::invalid(format!(
                "increment {increment} is negative; give seconds"
            )));
        }
        let now = self.now();
        let _guard = self.lock_write();
        let mut e = match self.barrier.get::<TokenEntry>(&id_key(id))? {
            Some(e) if Self::alive(&e, now) => e,
            _ => return Err(VaultError::PermissionDenied),
        };
        if !e.renewable || e.expire_time == 0 {
            return Err(VaultError::invalid("token is not renewable"));
        }
        let ttl = if e.period > 0 {
            e.period
        } else if increment > 0 {
            increment
        } else {
            e.ttl
        };
        let old = e.expire_time;
        let mut expire = now.saturating_add(ttl);
        if e.explicit_max_ttl > 0 {
            expire = expire.min(e.creation_time + e.explicit_max_ttl);
        }
        if e.period == 0 {
            expire = expire.min(e.creation_time + MAX_TTL);
        }
        e.expire_time = expire;
        self.barrier.put(&id_key(id), &e)?;
        let e = Arc::new(e);
        self.cache_put(Arc::clone(&e));
        drop(_guard);
        self.set_expiry(id, old, expire);
        self.audit(
            AuditEntry::new("vault.token.renew", Outcome::Success)
                .subject(e.accessor.clone())
                .detail("ttl", expire - now),
        );
        Ok(e)
    }

    /// Revokes token `id` and all its descendants, and schedules the revocation of every
    /// lease obtained with any of them. Returns the revoked ids (empty if `id` is unknown).
    pub fn revoke_tree(&self, id: &str) -> Result<Vec<String>, VaultError> {
        self.revoke_inner(id, false)
    }

    /// Revokes token `id` only; its children become orphans.
    pub fn revoke_orphan(&self, id: &str) -> Result<Vec<String>, VaultError> {
        self.revoke_inner(id, true)
    }

    fn revoke_inner(&self, id: &str, orphan_children: bool) -> Result<Vec<String>, VaultError> {
        let guard = self.lock_write();
        let Some(root) = self.barrier.get::<TokenEntry>(&id_key(id))? else {
            return Ok(Vec::new());
        };
        let mut batch = Batch::new();
        let mut revoked: Vec<TokenEntry> = Vec::new();
        let mut stack = vec![root];
        while let Some(e) = stack.pop() {
            let cprefix = children_prefix(&e.id);
            for link in self.barrier.keys(&cprefix)? {
                batch.delete(link.clone());
                let child_id = &link[cprefix.len()..];
                let Some(mut child) = self.barrier.get::<TokenEntry>(&id_key(child_id))? else {
                    continue;
                };
                if orphan_children {
                    child.parent = None;
                    batch.put(id_key(child_id), &child);
                    self.cache_put(Arc::new(child));
                } else {
                    stack.push(child);
                }
            }
            batch.delete(id_key(&e.id));
            batch.delete(accessor_key(&e.accessor));
            if let Some(p) = &e.parent {
                batch.delete(format!("{}{}", children_prefix(p), e.id));
            }
            revoked.push(e);
        }
        self.barrier.commit(batch)?;
        {
            let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
            for e in &revoked {
                cache.remove(&e.id);
            }
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
        drop(guard);
        for e in &revoked {
            self.set_expiry(&e.id, e.expire_time, 0);
        }
        let ids: Vec<String> = revoked.iter().map(|e| e.id.clone()).collect();
        if let Some(lm) = self.leases.get().and_then(Weak::upgrade) {
            if let Err(e) = lm.schedule_revoke_by_tokens(&ids) {
                tracing::error!(error = %e, "could not schedule the leases of revoked tokens");
            }
        }
        for e in &revoked {
            self.audit(
                AuditEntry::new("vault.token.revoke", Outcome::Success)
                    .subject(e.accessor.clone())
                    .detail("path", e.path.clone()),
            );
        }
        Ok(ids)
    }
}
