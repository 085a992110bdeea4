//! The request pipeline end to end, without HTTP: tokens, ACL policies, engines and the audit
//! log working together on a real (in-memory SQLite) store.

use seawall_audit::AuditLog;
use seawall_core::clock::SharedClock;
use seawall_core::event::NullSink;
use seawall_core::seal::{DataKey, Sealer};
use seawall_core::{Secret, SystemClock};
use seawall_store::sqlite::SqliteStore;
use seawall_store::Store;
use seawall_vault::core::{RawRequest, Vault, VaultParts};
use seawall_vault::VaultError;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

struct Fixture {
    vault: Arc<Vault>,
    store: Arc<dyn Store>,
    audit: AuditLog,
    root: String,
}

fn fixture() -> Fixture {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let sealer = Arc::new(Sealer::new(DataKey::generate()));
    let clock: SharedClock = Arc::new(SystemClock);
    let audit = AuditLog::open(store.clone(), &sealer, clock.clone()).unwrap();
    let vault = Vault::open(VaultParts {
        store: store.clone(),
        sealer,
        audit: audit.clone(),
        clock,
        events: Arc::new(NullSink),
        seal: Default::default(),
    })
    .unwrap();
    let root = vault.tokens.create_root().unwrap();
    Fixture {
        vault,
        store,
        audit,
        root,
    }
}

fn req(method: &str, path: &str, token: Option<&str>, body: Value) -> RawRequest {
    RawRequest {
        method: method.into(),
        path: path.into(),
        query: BTreeMap::new(),
        body: match body {
            Value::Object(m) => m,
            _ => Default::default(),
        },
        token: token.map(|t| Secret::new(t.to_owned())),
        client_addr: Some("127.0.0.1".parse().unwrap()),
    }
}

impl Fixture {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Result<seawall_vault::Response, VaultError> {
        self.vault.handle(req(method, path, token, body)).await
    }

    fn audit_text(&self) -> String {
        self.audit.flush().unwrap();
        self.store
            .audit_records(0, 100_000)
            .unwrap()
            .iter()
            .map(|r| r.body.clone())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[tokio::test]
async fn policies_limit_what_a_token_reaches_and_denials_are_audited() {
    let f = fixture();
    let root = Some(f.root.as_str());
    f.call(
        "PUT",
        "sys/policies/acl/app",
        root,
        json!({"policy": "path \"secret/data/app/*\" { capabilities = [\"read\"] }"}),
    )
    .await
    .unwrap();
    f.call(
        "POST",
        "secret/data/app/db",
        root,
        json!({"data": {"password": "hunter2-very-secret"}}),
    )
    .await
    .unwrap();
    f.call(
        "POST",
        "secret/data/other",
        root,
        json!({"data": {"k": "v"}}),
    )
    .await
    .unwrap();
    let created = f
        .call(
            "POST",
            "auth/token/create",
            root,
            json!({"policies": ["app"], "ttl": "10m"}),
        )
        .await
        .unwrap();
    let app = created.auth.unwrap().client_token;
    let app = Some(app.as_str());

    let read = f
        .call("GET", "secret/data/app/db", app, json!({}))
        .await
        .unwrap();
    assert_eq!(
        read.data.unwrap()["data"]["password"],
        "hunter2-very-secret"
    );
    for (m, p) in [
        ("GET", "secret/data/other"),
        ("POST", "secret/data/app/db"),
        ("DELETE", "secret/data/app/db"),
        ("LIST", "secret/metadata/"),
        ("GET", "sys/seawall/leases"),
    ] {
        let e = f.call(m, p, app, json!({"data": {"x": "y"}})).await.err();
        assert!(
            matches!(e, Some(VaultError::PermissionDenied)),
            "{m} {p}: {e:?}"
        );
    }
    // Nothing changed by the refused write.
    let again = f
        .call("GET", "secret/data/app/db", root, json!({}))
        .await
        .unwrap();
    assert_eq!(again.data.unwrap()["metadata"]["version"], 1);

    let text = f.audit_text();
    assert!(
        !text.contains("hunter2-very-secret"),
        "a secret value was audited"
    );
    assert!(!text.contains(&f.root), "a token was audited");
    assert!(text.contains("\"deny\""));
    assert!(text.contains("secret/data/other"));
    assert!(text.contains("hmac:"));
}

#[tokio::test]
async fn missing_unknown_and_revoked_tokens_are_denied() {
    let f = fixture();
    for t in [None, Some("hvs.nope"), Some("")] {
        let e = f.call("GET", "secret/data/x", t, json!({})).await.err();
        assert!(matches!(e, Some(VaultError::PermissionDenied)), "{t:?}");
    }
    let t = f
        .call(
            "POST",
            "auth/token/create",
            Some(&f.root),
            json!({"ttl": "1h"}),
        )
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    f.call("POST", "auth/token/revoke-self", Some(&t), json!({}))
        .await
        .unwrap();
    let e = f
        .call("GET", "auth/token/lookup-self", Some(&t), json!({}))
        .await
        .err();
    assert!(matches!(e, Some(VaultError::PermissionDenied)));
}

#[tokio::test]
async fn bad_paths_and_methods_are_refused() {
    let f = fixture();
    let root = Some(f.root.as_str());
    for p in ["secret/data/a/../b", "secret//data", "nosuchmount/x"] {
        let e = f.call("GET", p, root, json!({})).await.unwrap_err();
        assert!(matches!(e.status(), 400 | 404), "{p}: {e}");
    }
    let e = f
        .call("TRACE", "secret/data/a", root, json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 405);
}

#[tokio::test]
async fn sys_paths_answer_in_vaults_shape() {
    let f = fixture();
    let h = f.call("GET", "sys/health", None, json!({})).await.unwrap();
    assert_eq!(h.data.unwrap()["sealed"], false);
    let m = f
        .call("GET", "sys/mounts", Some(&f.root), json!({}))
        .await
        .unwrap();
    let m = m.data.unwrap();
    assert_eq!(m["secret/"]["options"]["version"], "2");
    let ui = f
        .call(
            "GET",
            "sys/internal/ui/mounts/secret/app/db",
            Some(&f.root),
            json!({}),
        )
        .await
        .unwrap();
    assert_eq!(ui.data.unwrap()["path"], "secret/");
    // Mount a second KV engine, use it, and refuse a clash.
    f.call(
        "POST",
        "sys/mounts/team",
        Some(&f.root),
        json!({"type": "kv-v2"}),
    )
    .await
    .unwrap();
    f.call(
        "POST",
        "team/data/x",
        Some(&f.root),
        json!({"data": {"a": "b"}}),
    )
    .await
    .unwrap();
    let e = f
        .call(
            "POST",
            "sys/mounts/team",
            Some(&f.root),
            json!({"type": "kv-v2"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    let e = f
        .call(
            "POST",
            "sys/mounts/old",
            Some(&f.root),
            json!({"type": "kv"}),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("version"), "{e}");
}

#[tokio::test]
async fn the_mount_table_survives_a_reopen() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let sealer = Arc::new(Sealer::new(DataKey::generate()));
    let clock: SharedClock = Arc::new(SystemClock);
    let audit = AuditLog::open(store.clone(), &sealer, clock.clone()).unwrap();
    let parts = VaultParts {
        store,
        sealer,
        audit,
        clock,
        events: Arc::new(NullSink),
        seal: Default::default(),
    };
    let v = Vault::open(parts.clone()).unwrap();
    let root = v.tokens.create_root().unwrap();
    v.handle(req(
        "POST",
        "sys/mounts/team",
        Some(&root),
        json!({"type": "kv-v2"}),
    ))
    .await
    .unwrap();
    v.handle(req(
        "POST",
        "team/data/x",
        Some(&root),
        json!({"data": {"a": "b"}}),
    ))
    .await
    .unwrap();
    drop(v);
    let v = Vault::open(parts).unwrap();
    let r = v
        .handle(req("GET", "team/data/x", Some(&root), json!({})))
        .await
        .unwrap();
    assert_eq!(r.data.unwrap()["data"]["a"], "b");
}

#[tokio::test]
async fn parameter_constraints_in_policies_are_enforced() {
    let f = fixture();
    let root = Some(f.root.as_str());
    f.call(
        "PUT",
        "sys/policies/acl/no-cas",
        root,
        json!({"policy": "path \"secret/data/p\" {\n  capabilities = [\"create\", \"update\"]\n  denied_parameters = { \"options\" = [] }\n}"}),
    )
    .await
    .unwrap();
    let t = f
        .call(
            "POST",
            "auth/token/create",
            root,
            json!({"policies": ["no-cas"], "ttl": "10m"}),
        )
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    f.call(
        "POST",
        "secret/data/p",
        Some(&t),
        json!({"data": {"a": "1"}}),
    )
    .await
    .unwrap();
    let e = f
        .call(
            "POST",
            "secret/data/p",
            Some(&t),
            json!({"data": {"a": "2"}, "options": {"cas": 1}}),
        )
        .await
        .err();
    assert!(matches!(e, Some(VaultError::PermissionDenied)), "{e:?}");
}

#[tokio::test]
async fn requests_refused_before_decoding_are_audited_too() {
    use axum::http::{HeaderMap, Method};
    let f = fixture();
    let headers = HeaderMap::new();
    for (method, path, body) in [
        (Method::GET, "/secret/data/bad%zzpath", ""),
        (Method::POST, "/secret/data/notjson", "{oops"),
        (
            Method::from_bytes(b"BREW").unwrap(),
            "/secret/data/teapot",
            "",
        ),
    ] {
        let r = seawall_vault::http::serve(
            &f.vault,
            &method,
            path,
            None,
            &headers,
            axum::body::Bytes::from(body),
            None,
        )
        .await;
        assert!(r.status().is_client_error(), "{path}: {}", r.status());
    }
    let text = f.audit_text();
    for marker in ["bad%zzpath", "secret/data/notjson", "BREW"] {
        assert!(text.contains(marker), "{marker} not audited");
    }
}
