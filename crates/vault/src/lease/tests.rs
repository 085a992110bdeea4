//! Tests of the lease manager with a scripted engine (the real database engine is tested in
//! its own module): expiry, backoff, the failing flag, durability across reopen, renewal.

use super::*;
use crate::barrier::Barrier;
use seawall_audit::AuditLog;
use seawall_core::clock::{Clock, ManualClock, SharedClock};
use seawall_core::event::{EventKind, EventSink, SecurityEvent, Severity};
use seawall_core::seal::{DataKey, Sealer};
use seawall_store::sqlite::SqliteStore;
use seawall_store::Store;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) const T0: i64 = 1_800_000_000;

/// An engine that fails its first `fail` revocations, then succeeds; it records what it did.
#[derive(Default)]
pub(crate) struct FakeEngine {
    pub fail: AtomicU32,
    pub revoked: Mutex<Vec<String>>,
    pub renewed: Mutex<Vec<(String, i64)>>,
}

#[async_trait::async_trait]
impl LeaseEngine for FakeEngine {
    async fn revoke(&self, lease: &Lease) -> Result<(), VaultError> {
        if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(VaultError::Upstream("database unreachable".into()));
        }
        self.revoked.lock().unwrap().push(lease.id.clone());
        Ok(())
    }
    async fn renew(&self, lease: &Lease, new_expire_time: i64) -> Result<(), VaultError> {
        self.renewed
            .lock()
            .unwrap()
            .push((lease.id.clone(), new_expire_time));
        Ok(())
    }
}

#[derive(Default)]
pub(crate) struct Events(pub Mutex<Vec<SecurityEvent>>);

impl EventSink for Events {
    fn publish(&self, event: SecurityEvent) {
        self.0.lock().unwrap().push(event);
    }
}

/// A store, barrier, audit log, manual clock and lease manager with a fake engine on
/// `database/`.
pub(crate) struct Fixture {
    pub store: Arc<dyn Store>,
    pub barrier: Barrier,
    pub clock: ManualClock,
    pub events: Arc<Events>,
    pub audit: AuditLog,
    pub engine: Arc<FakeEngine>,
    pub leases: Arc<LeaseManager>,
}

impl Fixture {
    pub fn new() -> Self {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        let sealer = Arc::new(Sealer::new(DataKey::generate()));
        let barrier = Barrier::new(store.clone(), sealer.clone());
        let clock = ManualClock::at(T0);
        let shared: SharedClock = Arc::new(clock.clone());
        let audit = AuditLog::open(store.clone(), &sealer, shared.clone()).unwrap();
        let events = Arc::new(Events::default());
        let engine = Arc::new(FakeEngine::default());
        let leases =
            LeaseManager::open(barrier.clone(), shared, events.clone(), audit.clone()).unwrap();
        leases.register_engine("database/", engine.clone());
        Self {
            store,
            barrier,
            clock,
            events,
            audit,
            engine,
            leases,
        }
    }

    pub fn shared_clock(&self) -> SharedClock {
        Arc::new(self.clock.clone())
    }

    /// A second manager on the same storage, as after a restart.
    pub fn reopen(&self) -> Arc<LeaseManager> {
        let lm = LeaseManager::open(
            self.barrier.clone(),
            self.shared_clock(),
            self.events.clone(),
            self.audit.clone(),
        )
        .unwrap();
        lm.register_engine("database", self.engine.clone());
        lm
    }

    /// An active lease on `database/creds/<role>` for `ttl` seconds (max `max`).
    pub fn issue(&self, role: &str, ttl: i64, max: i64, token: Option<&str>) -> Lease {
        let mut l = Lease::new(
            "database/",
            &format!("database/creds/{role}"),
            self.clock.now(),
            ttl,
            max,
        );
        l.token = token.map(str::to_owned);
        l.internal = serde_json::json!({"username": format!("v-{role}")});
        self.leases.create_pending(l.clone()).unwrap();
        self.leases.activate(&l.id).unwrap();
        self.leases.lookup(&l.id).unwrap()
    }

    pub fn audit_actions(&self) -> Vec<String> {
        self.audit.flush().unwrap();
        self.store
            .audit_records(0, 10_000)
            .unwrap()
            .into_iter()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
                v["action"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    }
}

#[tokio::test]
async fn leases_are_durable_and_shaped_like_vault() {
    let f = Fixture::new();
    let l = f.issue("readonly", 3600, 7200, Some("tok1"));
    assert!(l.id.starts_with("database/creds/readonly/"));
    let suffix = &l.id["database/creds/readonly/".len()..];
    assert_eq!(suffix.len(), 24);
    assert!(suffix.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(l.state, LeaseState::Active);
    assert_eq!(l.expire_time, T0 + 3600);
    assert_eq!(l.max_expire_time, T0 + 7200);

    let v = lookup_response(&l, T0 + 100);
    assert_eq!(v["id"], l.id.as_str());
    assert_eq!(v["ttl"], 3500);
    assert_eq!(v["renewable"], true);
    assert!(v["last_renewal"].is_null());
    assert!(v["expire_time"].as_str().unwrap().ends_with('Z'));
    assert!(v.get("internal").is_none());

    // A new manager on the same storage sees the lease, in the same state and indexes.
    let again = f.reopen();
    assert_eq!(again.lookup(&l.id), Some(l.clone()));
    assert_eq!(again.by_token("tok1"), vec![l.id.clone()]);
    assert_eq!(again.live_count("database/creds/readonly/"), 1);
    assert_eq!(again.live_count("database/creds/other/"), 0);
}

#[tokio::test]
async fn expired_leases_are_revoked_and_forgotten() {
    let f = Fixture::new();
    let short = f.issue("a", 60, 0, None);
    let long = f.issue("b", 600, 0, None);
    assert_eq!(f.leases.tick().await, 0);
    f.clock.advance(61);
    assert_eq!(f.leases.tick().await, 1);
    assert_eq!(*f.engine.revoked.lock().unwrap(), vec![short.id.clone()]);
    assert!(f.leases.lookup(&short.id).is_none());
    assert!(f.leases.lookup(&long.id).is_some());
    // Gone from storage too.
    assert!(f.reopen().lookup(&short.id).is_none());
    assert!(f.audit_actions().contains(&"vault.lease.revoke".to_owned()));
}

#[tokio::test]
async fn failed_revocations_back_off_then_flag_failing_once_and_finally_succeed() {
    let f = Fixture::new();
    let l = f.issue("ro", 3600, 0, None);
    f.engine.fail.store(6, Ordering::SeqCst);

    // Attempt 1 (explicit revoke): fails, the error is returned, the lease stays.
    let err = f.leases.revoke(&l.id).await.unwrap_err();
    assert!(err.to_string().contains("unreachable"), "{err}");
    let now = f.clock.now();
    let got = f.leases.lookup(&l.id).unwrap();
    assert_eq!(got.state, LeaseState::Revoking);
    assert_eq!(got.attempts, 1);
    assert_eq!(got.next_attempt, now + 1);
    assert!(!got.failing);

    // Not due before its backoff has passed.
    assert_eq!(f.leases.tick().await, 0);
    assert_eq!(f.leases.lookup(&l.id).unwrap().attempts, 1);

    // Attempts 2..=5 at 1, 2, 4, 8 s; the 5th marks it failing.
    for (attempt, wait) in [(2u32, 1i64), (3, 2), (4, 4), (5, 8)] {
        f.clock.advance(wait);
        assert_eq!(f.leases.tick().await, 0);
        let got = f.leases.lookup(&l.id).unwrap();
        assert_eq!(got.attempts, attempt);
        assert_eq!(got.next_attempt, f.clock.now() + worker::backoff(attempt));
        assert_eq!(got.failing, attempt >= 5, "attempt {attempt}");
    }
    assert_eq!(f.leases.failing().len(), 1);
    // Durable: a restart still shows it failing.
    assert!(f.reopen().lookup(&l.id).unwrap().failing);

    // Attempt 6 fails too: no second event.
    f.clock.advance(16);
    f.leases.tick().await;
    let events = f.events.0.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].severity, Severity::High);
    assert_eq!(
        events[0].kind,
        EventKind::Other {
            name: "vault.lease.revoke_failing".into()
        }
    );
    assert_eq!(events[0].context["lease_id"], l.id.as_str());

    // Attempt 7 succeeds.
    f.clock.advance(32);
    assert_eq!(f.leases.tick().await, 1);
    assert!(f.leases.lookup(&l.id).is_none());
    assert!(f.leases.failing().is_empty());
    let actions = f.audit_actions();
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "vault.lease.revoke_failing")
            .count(),
        1
    );
}

#[test]
fn backoff_doubles_to_a_minute() {
    let seq: Vec<i64> = (1..=9).map(worker::backoff).collect();
    assert_eq!(seq, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
}

#[tokio::test]
async fn five_minutes_of_failure_flags_the_lease_even_with_few_attempts() {
    let f = Fixture::new();
    let l = f.issue("ro", 10, 0, None);
    f.engine.fail.store(100, Ordering::SeqCst);
    f.clock.advance(11);
    f.leases.tick().await;
    assert_eq!(f.leases.lookup(&l.id).unwrap().attempts, 1);
    f.clock.advance(301);
    f.leases.tick().await;
    let got = f.leases.lookup(&l.id).unwrap();
    assert_eq!(got.attempts, 2);
    assert!(got.failing);
    assert_eq!(f.events.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn restart_revokes_pending_and_expired_leases() {
    let f = Fixture::new();
    let active = f.issue("keep", 3600, 0, None);
    let expired = f.issue("old", 30, 0, None);
    // Creation interrupted: recorded Pending, never activated.
    let pending = Lease::new("database/", "database/creds/half", T0, 3600, 0);
    f.leases.create_pending(pending.clone()).unwrap();
    f.clock.advance(60);

    let lm = f.reopen();
    assert_eq!(lm.lookup(&pending.id).unwrap().state, LeaseState::Pending);
    assert_eq!(lm.recover_pending(), 1);
    assert_eq!(lm.tick().await, 2);
    let mut revoked = f.engine.revoked.lock().unwrap().clone();
    revoked.sort();
    let mut want = vec![pending.id.clone(), expired.id.clone()];
    want.sort();
    assert_eq!(revoked, want);
    assert_eq!(lm.list("database/"), vec![active.id.clone()]);
}

#[tokio::test]
async fn renew_extends_from_now_but_never_past_the_max() {
    let f = Fixture::new();
    let l = f.issue("ro", 60, 100, None);
    f.clock.advance(30);
    let info = f.leases.renew(&l.id, Some(20)).await.unwrap();
    assert_eq!(info.lease_duration, 20);
    assert_eq!(f.leases.lookup(&l.id).unwrap().expire_time, T0 + 50);
    assert_eq!(f.leases.lookup(&l.id).unwrap().last_renewal, Some(T0 + 30));
    let info = f.leases.renew(&l.id, Some(1000)).await.unwrap();
    assert_eq!(info.lease_duration, 70);
    let got = f.leases.lookup(&l.id).unwrap();
    assert_eq!(got.expire_time, T0 + 100);
    assert_eq!(
        f.engine.renewed.lock().unwrap().last().unwrap(),
        &(l.id.clone(), T0 + 100)
    );
    // The renewal is durable.
    assert_eq!(f.reopen().lookup(&l.id).unwrap().expire_time, T0 + 100);

    // Not renewable: a clear error, nothing changed.
    let mut fixed = Lease::new("database/", "database/creds/fixed", T0 + 30, 60, 0);
    fixed.renewable = false;
    f.leases.create_pending(fixed.clone()).unwrap();
    f.leases.activate(&fixed.id).unwrap();
    let e = f.leases.renew(&fixed.id, Some(10)).await.unwrap_err();
    assert!(e.to_string().contains("not renewable"), "{e}");
    assert_eq!(e.status(), 400);
    assert!(f.leases.renew("database/creds/nope/x", None).await.is_err());
}

#[tokio::test]
async fn revoke_by_prefix_and_by_token() {
    let f = Fixture::new();
    let a1 = f.issue("a", 600, 0, Some("t1"));
    let a2 = f.issue("a", 600, 0, Some("t2"));
    let b = f.issue("b", 600, 0, Some("t1"));
    assert_eq!(f.leases.live_count("database/creds/a/"), 2);
    assert_eq!(
        f.leases.revoke_prefix("database/creds/a/").await.unwrap(),
        2
    );
    assert_eq!(f.leases.live_count("database/creds/a/"), 0);
    assert!(f.leases.lookup(&b.id).is_some());
    f.leases.revoke_by_tokens(&["t1".to_owned()]).await;
    assert!(f.leases.lookup(&b.id).is_none());
    let revoked = f.engine.revoked.lock().unwrap().clone();
    for l in [&a1, &a2, &b] {
        assert!(revoked.contains(&l.id));
    }
    // Revoking something already gone is fine.
    f.leases.revoke(&b.id).await.unwrap();
}

#[tokio::test]
async fn abandoned_creation_is_cleaned_up_even_without_an_engine_at_first() {
    let f = Fixture::new();
    let l = Lease::new("other/", "other/creds/x", T0, 600, 0);
    f.leases.create_pending(l.clone()).unwrap();
    f.leases.abandon(&l.id);
    assert_eq!(f.leases.tick().await, 0);
    let got = f.leases.lookup(&l.id).unwrap();
    assert!(got.last_error.unwrap().contains("other/"));
    let engine = Arc::new(FakeEngine::default());
    f.leases.register_engine("other/", engine.clone());
    f.clock.advance(1);
    assert_eq!(f.leases.tick().await, 1);
    assert_eq!(*engine.revoked.lock().unwrap(), vec![l.id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_wakes_for_a_new_earlier_deadline() {
    let f = Fixture::new();
    // Real time for this one: the loop sleeps on tokio's timer.
    let clock: SharedClock = Arc::new(seawall_core::SystemClock);
    let lm = LeaseManager::open(
        f.barrier.clone(),
        clock.clone(),
        f.events.clone(),
        f.audit.clone(),
    )
    .unwrap();
    lm.register_engine("database/", f.engine.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    lm.clone().spawn(stop_rx);
    // The loop is now asleep with nothing due (up to a minute); a 1 s lease must wake it.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let now = clock.now();
    let l = Lease::new("database/", "database/creds/ro", now, 1, 0);
    lm.create_pending(l.clone()).unwrap();
    lm.activate(&l.id).unwrap();
    let start = std::time::Instant::now();
    while lm.lookup(&l.id).is_some() {
        assert!(
            start.elapsed().as_secs() < 5,
            "lease not revoked by the loop"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(f.engine.revoked.lock().unwrap().contains(&l.id));
    stop_tx.send(true).unwrap();
}

#[tokio::test]
async fn no_lease_is_created_for_a_token_that_is_gone() {
    let f = Fixture::new();
    let tokens = crate::token::TokenStore::open(f.barrier.clone(), f.shared_clock()).unwrap();
    tokens.attach_leases(&f.leases);
    let root = tokens.create_root().unwrap();
    let root_entry = tokens.lookup(&root).unwrap().unwrap();
    let (_, t) = tokens
        .create(crate::token::TokenSpec {
            parent: Some(root_entry),
            num_uses: 1,
            ..Default::default()
        })
        .unwrap();
    let ok = f.issue("ro", 60, 0, Some(&t.id));
    // The last use revokes the token (and schedules its lease); a lease for it is refused.
    tokens.consume_use(&t).unwrap();
    let mut l = Lease::new("database/", "database/creds/ro", T0, 60, 0);
    l.token = Some(t.id.clone());
    let err = f.leases.create_pending(l.clone()).unwrap_err();
    assert_eq!(err.status(), 403);
    assert!(f.leases.lookup(&l.id).is_none());
    assert_eq!(f.leases.lookup(&ok.id).unwrap().state, LeaseState::Revoking);
}

#[tokio::test]
async fn leases_and_tokens_survive_reopening_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seawall.db");
    let sealer = Arc::new(Sealer::new(DataKey::generate()));
    let clock = ManualClock::at(T0);
    let shared: SharedClock = Arc::new(clock.clone());
    let open = |path: &std::path::Path| {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path).unwrap());
        let barrier = Barrier::new(store.clone(), sealer.clone());
        let audit = AuditLog::open(store, &sealer, shared.clone()).unwrap();
        let lm = LeaseManager::open(
            barrier.clone(),
            shared.clone(),
            Arc::new(Events::default()),
            audit,
        )
        .unwrap();
        let tokens = crate::token::TokenStore::open(barrier, shared.clone()).unwrap();
        tokens.attach_leases(&lm);
        (lm, tokens)
    };
    let (lm, tokens) = open(&path);
    let root = tokens.create_root().unwrap();
    let id = tokens.lookup(&root).unwrap().unwrap().id.clone();
    let mut l = Lease::new("database/", "database/creds/ro", T0, 60, 600);
    l.token = Some(id.clone());
    lm.create_pending(l.clone()).unwrap();
    lm.activate(&l.id).unwrap();
    drop((lm, tokens));

    let (lm, tokens) = open(&path);
    assert_eq!(tokens.lookup(&root).unwrap().unwrap().id, id);
    let got = lm.lookup(&l.id).unwrap();
    assert_eq!(got.state, LeaseState::Active);
    assert_eq!(got.token.as_deref(), Some(id.as_str()));
    assert_eq!(got.max_expire_time, T0 + 600);
}
