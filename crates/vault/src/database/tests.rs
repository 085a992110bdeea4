//! Engine tests that need no PostgreSQL: routing, refusals, what is stored and shown. The
//! tests against a real server are in `tests/postgres/`.

use super::DatabaseBackend;
use crate::backend::{Backend, MountEntry};
use crate::barrier::Barrier;
use crate::lease::{Lease, LeaseManager};
use crate::request::{Operation, Request};
use seawall_audit::AuditLog;
use seawall_core::clock::{SharedClock, SystemClock};
use seawall_core::event::NullSink;
use seawall_core::seal::{DataKey, Sealer};
use seawall_store::sqlite::SqliteStore;
use seawall_store::Store;
use serde_json::{json, Value};
use std::sync::Arc;

struct Env {
    backend: Arc<DatabaseBackend>,
    leases: Arc<LeaseManager>,
    store: Arc<dyn Store>,
}

fn env() -> Env {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let sealer = Arc::new(Sealer::new(DataKey::generate()));
    let clock: SharedClock = Arc::new(SystemClock);
    let barrier = Barrier::new(store.clone(), sealer.clone());
    let audit = AuditLog::open(store.clone(), &sealer, clock.clone()).unwrap();
    let leases = LeaseManager::open(
        barrier.clone(),
        clock.clone(),
        Arc::new(NullSink),
        audit.clone(),
    )
    .unwrap();
    let mount = MountEntry {
        path: "database/".into(),
        kind: "database".into(),
        uuid: "u1".into(),
        accessor: "database_1".into(),
        description: String::new(),
        options: Default::default(),
    };
    let backend = DatabaseBackend::new(
        &mount,
        barrier,
        leases.clone(),
        clock,
        Arc::new(NullSink),
        audit,
    );
    Env {
        backend,
        leases,
        store,
    }
}

impl Env {
    async fn call(
        &self,
        op: Operation,
        rel: &str,
        data: Value,
    ) -> Result<crate::Response, crate::VaultError> {
        self.backend
            .handle(&Request::new(op, "database/", rel).with_data(data))
            .await
    }

    /// A connection that is never contacted (port 1, no verification).
    async fn offline_connection(&self) {
        self.call(
            Operation::Update,
            "config/pg",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:1/app?sslmode=disable",
                "username": "root", "password": "Root-Pass-123", "verify_connection": false,
                "allowed_roles": ["app"]
            }),
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn the_root_password_is_sealed_and_never_shown() {
    let e = env();
    e.offline_connection().await;
    let r = e
        .call(Operation::Read, "config/pg", json!({}))
        .await
        .unwrap();
    let shown = r.data.unwrap().to_string();
    assert!(!shown.contains("Root-Pass-123"), "{shown}");
    assert!(shown.contains("{{password}}"));
    for key in e.store.vault_keys("db/").unwrap() {
        let raw = e.store.vault_get(&key).unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("Root-Pass-123"));
    }
    let list = e.call(Operation::List, "config/", json!({})).await.unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!(["pg"]));
    for (rel, want) in [("config/pg", true), ("config/other", false)] {
        let req = Request::new(Operation::Update, "database/", rel);
        assert_eq!(e.backend.exists(&req).await.unwrap(), want, "{rel}");
    }
}

#[tokio::test]
async fn an_unreachable_database_stores_the_role_with_a_warning_and_creds_fail_cleanly() {
    let e = env();
    e.offline_connection().await;
    let r = e
        .call(
            Operation::Update,
            "roles/app",
            json!({"db_name": "pg", "creation_statements": "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}'"}),
        )
        .await
        .unwrap();
    assert!(
        r.warnings.iter().any(|w| w.contains("not tried")),
        "{:?}",
        r.warnings
    );
    let err = e
        .call(Operation::Read, "creds/app", json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 502, "{err}");
    assert!(!err.to_string().contains("Root-Pass-123"));
    // The lease written before the attempt stays, to be revoked (retried) once reachable.
    let ids = e.leases.list("database/creds/app/");
    assert_eq!(ids.len(), 1);
    assert_ne!(
        e.leases.lookup(&ids[0]).unwrap().state,
        crate::lease::LeaseState::Active
    );
}

#[tokio::test]
async fn refusals_change_nothing() {
    let e = env();
    e.offline_connection().await;
    let before = e.store.vault_keys("").unwrap();
    for (op, rel, data, status) in [
        (Operation::Read, "creds/nope", json!({}), 400),
        (
            Operation::Update,
            "roles/x",
            json!({"db_name": "nope", "creation_statements": "CREATE ROLE \"{{name}}\""}),
            400,
        ),
        (
            Operation::Update,
            "roles/x",
            json!({"db_name": "pg", "creation_statements": "CREATE ROLE {{nam}}"}),
            400,
        ),
        (Operation::Update, "config/bad name", json!({}), 400),
        (Operation::Read, "static-creds/none", json!({}), 404),
        (Operation::Read, "nowhere/x", json!({}), 404),
        (Operation::Delete, "creds/app", json!({}), 405),
        (Operation::Update, "rotate-root/none", json!({}), 404),
    ] {
        let err = e.call(op, rel, data).await.unwrap_err();
        assert_eq!(err.status(), status, "{rel}: {err}");
    }
    assert_eq!(e.store.vault_keys("").unwrap(), before);
}

#[tokio::test]
async fn a_connection_with_live_leases_is_kept() {
    let e = env();
    e.offline_connection().await;
    let mut l = Lease::new("database/", "database/creds/app", 1, 3600, 3600);
    l.internal = json!({"connection": "pg", "username": "seawall_app_x_1", "role": "app"});
    e.leases.create_pending(l).unwrap();
    let err = e
        .call(Operation::Delete, "config/pg", json!({}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1 live leases"), "{err}");
    assert!(e
        .call(Operation::Read, "config/pg", json!({}))
        .await
        .is_ok());
}
