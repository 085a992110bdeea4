//! The lease manager: durable lease records, their in-memory index, and the operations the
//! engines and the `sys/leases` API call. The background loop lives in `worker`.

use super::{Lease, LeaseEngine, LeaseState};
use crate::barrier::{Barrier, Batch};
use crate::error::VaultError;
use crate::request::LeaseInfo;
use seawall_audit::{AuditEntry, AuditLog, Outcome};
use seawall_core::clock::SharedClock;
use seawall_core::event::EventSink;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, Weak};
use tokio::sync::Notify;

/// Storage prefix of lease records.
pub(super) const PREFIX: &str = "lease/";

pub(super) fn key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

/// Every lease, indexed.
#[derive(Default)]
pub(super) struct Index {
    pub(super) leases: HashMap<String, Lease>,
    /// (due time, id): expiry for `Pending`/`Active`, next attempt for `Revoking`.
    pub(super) due: BTreeSet<(i64, String)>,
    /// token id -> lease ids.
    pub(super) by_token: HashMap<String, BTreeSet<String>>,
    /// Leases whose revocation is running now.
    pub(super) in_flight: HashSet<String>,
}

fn due_of(l: &Lease) -> i64 {
    match l.state {
        LeaseState::Pending | LeaseState::Active => l.expire_time,
        LeaseState::Revoking => l.next_attempt,
    }
}

impl Index {
    /// Inserts or replaces a lease, keeping the indexes in step.
    pub(super) fn put(&mut self, lease: Lease) {
        self.remove(&lease.id);
        self.due.insert((due_of(&lease), lease.id.clone()));
        if let Some(t) = &lease.token {
            self.by_token
                .entry(t.clone())
                .or_default()
                .insert(lease.id.clone());
        }
        self.leases.insert(lease.id.clone(), lease);
    }

    /// Removes a lease from every index.
    pub(super) fn remove(&mut self, id: &str) -> Option<Lease> {
        let old = self.leases.remove(id)?;
        self.due.remove(&(due_of(&old), old.id.clone()));
        if let Some(t) = &old.token {
            if let Some(set) = self.by_token.get_mut(t) {
                set.remove(id);
                if set.is_empty() {
                    self.by_token.remove(t);
                }
            }
        }
        Some(old)
    }
}

/// Keeps every lease durable and indexed, and revokes them on time. Share it as `Arc`.
pub struct LeaseManager {
    pub(super) barrier: Barrier,
    pub(super) clock: SharedClock,
    pub(super) events: Arc<dyn EventSink>,
    pub(super) audit: AuditLog,
    pub(super) engines: RwLock<HashMap<String, Arc<dyn LeaseEngine>>>,
    pub(super) index: Mutex<Index>,
    /// Wakes the loop when an earlier deadline appears.
    pub(super) wake: Notify,
    /// Signalled whenever a revocation attempt ends.
    pub(super) done: Notify,
    /// The token store whose expiries the loop also handles (see `attach_tokens`).
    pub(super) tokens: OnceLock<Weak<crate::token::TokenStore>>,
}

fn mount_key(mount: &str) -> String {
    mount.trim_end_matches('/').to_owned()
}

impl LeaseManager {
    /// Opens the manager and loads every stored lease into memory.
    pub fn open(
        barrier: Barrier,
        clock: SharedClock,
        events: Arc<dyn EventSink>,
        audit: AuditLog,
    ) -> Result<Arc<Self>, VaultError> {
        let mut index = Index::default();
        for k in barrier.keys(PREFIX)? {
            if let Some(lease) = barrier.get::<Lease>(&k)? {
                index.put(lease);
            }
        }
        Ok(Arc::new(Self {
            barrier,
            clock,
            events,
            audit,
            engines: RwLock::new(HashMap::new()),
            index: Mutex::new(index),
            wake: Notify::new(),
            done: Notify::new(),
            tokens: OnceLock::new(),
        }))
    }

    /// Lets the expiry loop also revoke expired tokens of `tokens` (with their trees and
    /// leases), so one loop covers both. [`crate::token::TokenStore::attach_leases`] calls it.
    pub fn attach_tokens(&self, tokens: &Arc<crate::token::TokenStore>) {
        let _ = self.tokens.set(Arc::downgrade(tokens));
        self.wake.notify_one();
    }

    pub(super) fn token_store(&self) -> Option<Arc<crate::token::TokenStore>> {
        self.tokens.get().and_then(Weak::upgrade)
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Index> {
        // A panic while holding the lock leaves the index consistent (every update is a
        // single `put`/`remove`), so a poisoned lock is still usable.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Registers the engine that revokes and renews the leases of `mount` (`database/`).
    pub fn register_engine(&self, mount: &str, engine: Arc<dyn LeaseEngine>) {
        self.engines
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(mount_key(mount), engine);
        // Leases that failed for want of an engine can go now.
        self.wake.notify_one();
    }

    pub(super) fn engine_for(&self, mount: &str) -> Result<Arc<dyn LeaseEngine>, VaultError> {
        self.engines
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&mount_key(mount))
            .cloned()
            .ok_or_else(|| VaultError::Internal(format!("no engine is mounted at `{mount}`")))
    }

    /// Records a new lease as `Pending`, durably, before the engine creates the credential.
    /// With a token store attached, a lease for a token that is no longer valid (revoked,
    /// expired, or its last use spent) is refused, so no lease outlives its token.
    pub fn create_pending(&self, mut lease: Lease) -> Result<(), VaultError> {
        lease.state = LeaseState::Pending;
        let mut idx = self.lock();
        if idx.leases.contains_key(&lease.id) {
            return Err(VaultError::Internal(format!(
                "lease `{}` already exists",
                lease.id
            )));
        }
        // Checked under the index lock: a revocation deletes the token first and collects its
        // leases under this lock afterwards, so it either sees this lease or we see no token.
        if let (Some(token), Some(tokens)) = (&lease.token, self.token_store()) {
            if tokens.lookup_id(token)?.is_none() {
                return Err(VaultError::PermissionDenied);
            }
        }
        self.barrier.put(&key(&lease.id), &lease)?;
        let earlier = idx.due.first().is_none_or(|(d, _)| lease.expire_time < *d);
        idx.put(lease);
        drop(idx);
        if earlier {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Marks a `Pending` lease `Active`, durably; the answer goes into the client's response.
    pub fn activate(&self, id: &str) -> Result<LeaseInfo, VaultError> {
        let now = self.now();
        let mut idx = self.lock();
        let mut lease = idx
            .leases
            .get(id)
            .cloned()
            .ok_or_else(|| VaultError::NotFound(format!("lease `{id}` not found")))?;
        if lease.state != LeaseState::Pending {
            return Err(VaultError::Internal(format!(
                "lease `{id}` is not pending (it is {:?})",
                lease.state
            )));
        }
        lease.state = LeaseState::Active;
        self.barrier.put(&key(id), &lease)?;
        let info = LeaseInfo {
            lease_id: lease.id.clone(),
            lease_duration: lease.ttl(now),
            renewable: lease.renewable,
        };
        idx.put(lease);
        Ok(info)
    }

    /// Creation failed half way: revoke the lease (retried until it succeeds) to remove
    /// whatever the engine made.
    pub fn abandon(&self, id: &str) {
        if let Err(e) = self.mark_revoking(&[id.to_owned()]) {
            tracing::error!(lease = %id, error = %e, "could not record an abandoned lease as revoking; it is retried from memory");
        }
        self.wake.notify_one();
    }

    /// Sets every listed lease to `Revoking`, due now, in one durable write. Unknown ids are
    /// skipped; leases being revoked keep their schedule. Returns the ids marked or already
    /// revoking.
    pub(super) fn mark_revoking(&self, ids: &[String]) -> Result<Vec<String>, VaultError> {
        let now = self.now();
        let mut idx = self.lock();
        let mut batch = Batch::new();
        let mut changed = Vec::new();
        let mut out = Vec::new();
        for id in ids {
            let Some(l) = idx.leases.get(id) else {
                continue;
            };
            out.push(id.clone());
            if l.state == LeaseState::Revoking && l.next_attempt <= now {
                continue;
            }
            let mut l = l.clone();
            l.state = LeaseState::Revoking;
            l.next_attempt = now;
            batch.put(key(id), &l);
            changed.push(l);
        }
        let result = self.barrier.commit(batch);
        // Memory follows even when the write failed: revoking early is the safe direction.
        for l in changed {
            idx.put(l);
        }
        result.map(|_| out)
    }

    /// Extends a lease by `increment` seconds from now (default: its last granted TTL),
    /// never past its `max_expire_time`, after the engine extended the credential.
    pub async fn renew(&self, id: &str, increment: Option<i64>) -> Result<LeaseInfo, VaultError> {
        let now = self.now();
        let lease = self
            .lookup(id)
            .ok_or_else(|| VaultError::invalid(format!("lease `{id}` not found")))?;
        if lease.state != LeaseState::Active || lease.expire_time <= now {
            return Err(VaultError::invalid(format!(
                "lease `{id}` has expired or is being revoked"
            )));
        }
        if !lease.renewable {
            return Err(VaultError::invalid(format!(
                "lease `{id}` is not renewable"
            )));
        }
        let increment = match increment {
            Some(i) if i < 0 => {
                return Err(VaultError::invalid(format!(
                    "increment {i} is negative; give seconds from now"
                )))
            }
            Some(i) if i > 0 => i,
            _ => lease.expire_time - lease.last_renewal.unwrap_or(lease.issue_time),
        };
        let mut new_expire = now.saturating_add(increment);
        if lease.max_expire_time > 0 {
            new_expire = new_expire.min(lease.max_expire_time);
        }
        let engine = self.engine_for(&lease.mount)?;
        if let Err(e) = engine.renew(&lease, new_expire).await {
            self.audit.record(
                AuditEntry::new("vault.lease.renew", Outcome::Failure)
                    .subject(id)
                    .detail("error", e.to_string()),
            );
            return Err(e);
        }
        let mut idx = self.lock();
        let mut current = match idx.leases.get(id) {
            Some(l) if l.state == LeaseState::Active => l.clone(),
            _ => {
                return Err(VaultError::invalid(format!(
                    "lease `{id}` was revoked while it was being renewed"
                )))
            }
        };
        current.expire_time = new_expire;
        current.last_renewal = Some(now);
        self.barrier.put(&key(id), &current)?;
        let info = LeaseInfo {
            lease_id: id.to_owned(),
            lease_duration: current.ttl(now),
            renewable: current.renewable,
        };
        idx.put(current);
        drop(idx);
        // A renewal may move the expiry earlier (`seawall exec --ttl` shortens its lease): the
        // loop must not keep sleeping on the old deadline.
        self.wake.notify_one();
        self.audit.record(
            AuditEntry::new("vault.lease.renew", Outcome::Success)
                .subject(id)
                .detail("ttl", info.lease_duration),
        );
        Ok(info)
    }

    /// Revokes a lease now. An unknown id is fine (already gone). When the engine fails, the
    /// lease stays, is retried with backoff, and the error is returned.
    pub async fn revoke(&self, id: &str) -> Result<(), VaultError> {
        let marked = self.mark_revoking(&[id.to_owned()])?;
        if marked.is_empty() {
            return Ok(());
        }
        self.revoke_now(id).await
    }

    /// Revokes every lease whose id starts with `prefix`; returns how many were revoked. If
    /// some fail, they stay scheduled for retry and the error says how many.
    pub async fn revoke_prefix(&self, prefix: &str) -> Result<usize, VaultError> {
        let ids = self.list(prefix);
        let ids = self.mark_revoking(&ids)?;
        let mut done = 0;
        let mut failed = 0;
        for id in &ids {
            match self.revoke_now(id).await {
                Ok(()) => done += 1,
                Err(_) => failed += 1,
            }
        }
        if failed > 0 {
            return Err(VaultError::Upstream(format!(
                "{failed} of {} leases under `{prefix}` could not be revoked yet; they are retried",
                ids.len()
            )));
        }
        Ok(done)
    }

    /// Revokes every lease obtained with one of `token_ids` (`TokenEntry.id`s). Failures stay
    /// scheduled for retry.
    pub async fn revoke_by_tokens(&self, token_ids: &[String]) {
        let ids = match self.schedule_revoke_by_tokens(token_ids) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "could not record leases of revoked tokens as revoking");
                self.leases_of(token_ids)
            }
        };
        for id in ids {
            if let Err(e) = self.revoke_now(&id).await {
                tracing::warn!(lease = %id, error = %e, "lease of a revoked token: revocation failed, retrying");
            }
        }
    }

    /// Marks every lease obtained with one of `token_ids` for revocation now (durably) and
    /// wakes the loop, without waiting. For callers that cannot await (token expiry).
    pub fn schedule_revoke_by_tokens(
        &self,
        token_ids: &[String],
    ) -> Result<Vec<String>, VaultError> {
        let ids = self.leases_of(token_ids);
        if ids.is_empty() {
            return Ok(ids);
        }
        let r = self.mark_revoking(&ids);
        self.wake.notify_one();
        r
    }

    fn leases_of(&self, token_ids: &[String]) -> Vec<String> {
        let idx = self.lock();
        token_ids
            .iter()
            .filter_map(|t| idx.by_token.get(t))
            .flat_map(|s| s.iter().cloned())
            .collect()
    }

    /// The lease, if it is known (in any state).
    pub fn lookup(&self, id: &str) -> Option<Lease> {
        self.lock().leases.get(id).cloned()
    }

    /// Ids of every lease starting with `prefix`, sorted.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .lock()
            .leases
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    /// Leases whose revocation keeps failing.
    pub fn failing(&self) -> Vec<Lease> {
        let mut out: Vec<Lease> = self
            .lock()
            .leases
            .values()
            .filter(|l| l.failing)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// How many leases (in any state, revoking included) start with `prefix`.
    pub fn live_count(&self, prefix: &str) -> usize {
        self.lock()
            .leases
            .keys()
            .filter(|k| k.starts_with(prefix))
            .count()
    }

    /// The ids of leases obtained with token `token_id`.
    pub fn by_token(&self, token_id: &str) -> Vec<String> {
        self.leases_of(&[token_id.to_owned()])
    }
}
