//! The lease manager's background work: revoking a lease through its engine, retrying
//! failures with exponential backoff, flagging leases whose revocation keeps failing, and the
//! loop that wakes at the next deadline.

use super::manager::{key, LeaseManager};
use super::LeaseState;
use crate::error::VaultError;
use seawall_audit::{AuditEntry, Outcome};
use seawall_core::event::{EventKind, SecurityEvent, Severity};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Failed attempts after which a lease is flagged `failing`.
pub const FAILING_ATTEMPTS: u32 = 5;
/// Seconds of failing after which a lease is flagged `failing`.
pub const FAILING_AFTER_SECS: i64 = 300;
/// Longest wait between two attempts, in seconds.
pub const MAX_BACKOFF_SECS: i64 = 60;
/// How long one engine call may take before it counts as failed.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The loop re-reads the clock at least this often (the wall clock may jump).
const MAX_NAP: Duration = Duration::from_secs(60);
/// Revocations the loop runs at once.
const PARALLEL: usize = 8;

/// Seconds to wait after the `attempts`-th failure: 1, 2, 4, ... capped at 60.
pub fn backoff(attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(6);
    (1i64 << exp).min(MAX_BACKOFF_SECS)
}

impl LeaseManager {
    /// Runs one revocation attempt of lease `id` now (waiting for one already running). On
    /// success the lease is deleted; on failure it is rescheduled and the error returned.
    pub(super) async fn revoke_now(&self, id: &str) -> Result<(), VaultError> {
        let lease = loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut idx = self.lock();
                let Some(lease) = idx.leases.get(id).cloned() else {
                    return Ok(());
                };
                if !idx.in_flight.contains(id) {
                    idx.in_flight.insert(id.to_owned());
                    break lease;
                }
            }
            notified.await;
        };
        let result = match self.engine_for(&lease.mount) {
            Ok(engine) => {
                match tokio::time::timeout(ATTEMPT_TIMEOUT, engine.revoke(&lease)).await {
                    Ok(r) => r,
                    Err(_) => Err(VaultError::Upstream(format!(
                        "revoking lease `{id}` timed out after {} s",
                        ATTEMPT_TIMEOUT.as_secs()
                    ))),
                }
            }
            Err(e) => Err(e),
        };
        let result = match result {
            Ok(()) => self.forget(id),
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            self.record_failure(id, e);
        }
        self.done.notify_waiters();
        result
    }

    /// The engine removed the credential: delete the record.
    fn forget(&self, id: &str) -> Result<(), VaultError> {
        let mut idx = self.lock();
        self.barrier.delete(&key(id))?;
        let old = idx.remove(id);
        idx.in_flight.remove(id);
        drop(idx);
        let mut entry = AuditEntry::new("vault.lease.revoke", Outcome::Success).subject(id);
        if let Some(l) = old {
            entry = entry
                .detail("mount", l.mount)
                .detail("attempts", l.attempts + 1);
        }
        self.audit.record(entry);
        Ok(())
    }

    fn record_failure(&self, id: &str, err: &VaultError) {
        let now = self.now();
        let mut idx = self.lock();
        idx.in_flight.remove(id);
        let Some(mut lease) = idx.leases.get(id).cloned() else {
            return;
        };
        lease.state = LeaseState::Revoking;
        lease.attempts = lease.attempts.saturating_add(1);
        let first = *lease.first_failure.get_or_insert(now);
        lease.last_error = Some(err.to_string());
        lease.next_attempt = now + backoff(lease.attempts);
        let newly_failing = !lease.failing
            && (lease.attempts >= FAILING_ATTEMPTS || now - first >= FAILING_AFTER_SECS);
        lease.failing |= newly_failing;
        if let Err(e) = self.barrier.put(&key(id), &lease) {
            tracing::error!(lease = %id, error = %e, "could not store a failed revocation; it is retried from memory");
        }
        let snapshot = lease.clone();
        idx.put(lease);
        drop(idx);
        tracing::warn!(lease = %id, attempts = snapshot.attempts, error = %err, "lease revocation failed; will retry");
        if snapshot.attempts == 1 {
            self.audit.record(
                AuditEntry::new("vault.lease.revoke", Outcome::Failure)
                    .subject(id)
                    .detail("mount", snapshot.mount.clone())
                    .detail("error", err.to_string()),
            );
        }
        if newly_failing {
            let mut context = serde_json::Map::new();
            context.insert("lease_id".into(), id.into());
            context.insert("mount".into(), snapshot.mount.clone().into());
            context.insert("attempts".into(), snapshot.attempts.into());
            context.insert("error".into(), err.to_string().into());
            self.events.publish(SecurityEvent {
                time: now,
                severity: Severity::High,
                kind: EventKind::Other {
                    name: "vault.lease.revoke_failing".into(),
                },
                context,
            });
            self.audit.record(
                AuditEntry::new("vault.lease.revoke_failing", Outcome::Failure)
                    .subject(id)
                    .detail("mount", snapshot.mount)
                    .detail("attempts", snapshot.attempts)
                    .detail("error", err.to_string()),
            );
        }
    }

    /// Schedules every `Pending` lease (creation interrupted by a crash) for revocation.
    /// Run once at startup, before serving. Returns how many.
    pub fn recover_pending(&self) -> usize {
        let ids: Vec<String> = self
            .lock()
            .leases
            .values()
            .filter(|l| l.state == LeaseState::Pending)
            .map(|l| l.id.clone())
            .collect();
        if let Err(e) = self.mark_revoking(&ids) {
            tracing::error!(error = %e, "could not record interrupted leases as revoking");
        }
        ids.len()
    }

    /// Ids due now (expired, or a retry whose time has come), not already being revoked.
    fn due_now(&self) -> Vec<String> {
        let now = self.now();
        let idx = self.lock();
        idx.due
            .iter()
            .take_while(|(d, _)| *d <= now)
            .filter(|(_, id)| !idx.in_flight.contains(id))
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// Runs every revocation that is due now (up to a few at once) and returns how many
    /// succeeded. The loop calls this; tests call it after moving a manual clock.
    pub async fn tick(self: &Arc<Self>) -> usize {
        let mut ok = 0;
        let mut set = tokio::task::JoinSet::new();
        for id in self.due_now() {
            if set.len() >= PARALLEL {
                if let Some(Ok(true)) = set.join_next().await {
                    ok += 1;
                }
            }
            let me = Arc::clone(self);
            set.spawn(async move { me.revoke_now(&id).await.is_ok() });
        }
        while let Some(r) = set.join_next().await {
            if let Ok(true) = r {
                ok += 1;
            }
        }
        ok
    }

    /// How long the loop may sleep: until the earliest deadline, at most a minute.
    fn nap(&self) -> Duration {
        let now_ms = self.clock.now_millis();
        let idx = self.lock();
        let next = idx
            .due
            .iter()
            .find(|(_, id)| !idx.in_flight.contains(id))
            .map(|(d, _)| *d);
        match next {
            Some(d) => {
                let ms = d.saturating_mul(1000).saturating_sub(now_ms).max(0);
                Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(MAX_NAP)
            }
            None => MAX_NAP,
        }
    }

    /// Starts the expiry and retry loop: first (before returning) schedules interrupted
    /// (`Pending`) leases for revocation, then revokes whatever is due and sleeps until the next deadline, waking
    /// early when a nearer one appears. With a token store attached it also revokes expired
    /// tokens, so their children and leases go too. Stops when `stop` turns true or its sender is gone.
    /// Register the engines before calling it.
    pub fn spawn(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        // Here, not in the task: once this returns the API may serve, and a lease that a new
        // request has just written as Pending must not be taken for one a crash interrupted.
        let n = self.recover_pending();
        if n > 0 {
            tracing::info!(leases = n, "revoking leases whose creation was interrupted");
        }
        tokio::spawn(async move {
            loop {
                if *stop.borrow() {
                    break;
                }
                self.tick().await;
                let mut nap = self.nap();
                if let Some(tokens) = self.token_store() {
                    tokens.expire_due();
                    nap = nap.min(tokens.nap());
                }
                tokio::select! {
                    _ = tokio::time::sleep(nap) => {}
                    _ = self.wake.notified() => {}
                    r = stop.changed() => if r.is_err() { break },
                }
            }
        });
    }

    /// Wakes the loop to re-read its deadlines (after a clock change in tests, for example).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}
