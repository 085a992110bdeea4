//! Revoking tokens when they expire, so their children and leases go with them.
//!
//! An expired token is refused by lookups at once; this loop then revokes it as if by
//! `revoke`: its descendants are revoked and its leases scheduled for revocation.

use super::TokenStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The loop re-reads the clock at least this often (the wall clock may jump).
const MAX_NAP: Duration = Duration::from_secs(60);

impl TokenStore {
    /// The current time of the store's clock, in Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Revokes every token whose expiry has passed (with its tree); returns how many tokens
    /// were revoked.
    pub fn expire_due(&self) -> usize {
        let now = self.now();
        let due: Vec<String> = self
            .expiry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, id)| id.clone())
            .collect();
        let mut n = 0;
        for id in due {
            let result = self.revoke_tree(&id);
            // Whatever happened, this deadline is spent (an entry that vanished without
            // passing through revoke_tree must not stay due); a failure is retried in a second.
            let mut x = self.expiry.lock().unwrap_or_else(|p| p.into_inner());
            x.retain(|(t, i)| !(*i == id && *t <= now));
            match result {
                Ok(ids) => n += ids.len(),
                Err(e) => {
                    tracing::warn!(error = %e, "could not revoke an expired token; retrying");
                    x.insert((now + 1, id));
                }
            }
        }
        n
    }

    /// How long until the next token expiry, at most a minute.
    pub(crate) fn nap(&self) -> Duration {
        let now_ms = self.clock.now_millis();
        let x = self.expiry.lock().unwrap_or_else(|p| p.into_inner());
        match x.first() {
            Some((t, _)) => {
                let ms = t.saturating_mul(1000).saturating_sub(now_ms).max(0);
                Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(MAX_NAP)
            }
            None => MAX_NAP,
        }
    }

    /// Starts a loop of its own that revokes tokens as they expire. Not needed when a lease
    /// manager is attached and its loop runs (it does this too). Stops when `stop` turns true or
    /// its sender is gone.
    pub fn spawn(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        tokio::spawn(async move {
            loop {
                if *stop.borrow() {
                    break;
                }
                self.expire_due();
                let nap = self.nap();
                tokio::select! {
                    _ = tokio::time::sleep(nap) => {}
                    _ = self.wake.notified() => {}
                    r = stop.changed() => if r.is_err() { break },
                }
            }
        });
    }
}
