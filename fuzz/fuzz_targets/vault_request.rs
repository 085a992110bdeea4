//! Arbitrary HTTP requests to the vault's `/v1/` API: decoding (method, path, query, body) and
//! the whole pipeline behind it (token, ACL, KV, tokens, AppRole, policies, sys) on an in-memory
//! store with a root token. Every request gets an answer or a one-line error, never a panic.
//! Database paths are skipped: they would make the vault dial whatever address the input names.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use seawall_audit::AuditLog;
use seawall_core::clock::SharedClock;
use seawall_core::event::NullSink;
use seawall_core::seal::{DataKey, Sealer};
use seawall_core::SystemClock;
use seawall_store::sqlite::SqliteStore;
use seawall_store::Store;
use seawall_vault::core::{Vault, VaultParts};
use std::sync::{Arc, OnceLock};

struct World {
    rt: tokio::runtime::Runtime,
    vault: Arc<Vault>,
    root: String,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        let sealer = Arc::new(Sealer::new(DataKey::generate()));
        let clock: SharedClock = Arc::new(SystemClock);
        let audit = AuditLog::open(store.clone(), &sealer, clock.clone()).unwrap();
        let vault = Vault::open(VaultParts {
            store,
            sealer,
            audit,
            clock,
            events: Arc::new(NullSink),
            seal: Default::default(),
        })
        .unwrap();
        let root = vault.tokens.create_root().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        World { rt, vault, root }
    })
}

const METHODS: &[&str] = &["GET", "LIST", "POST", "PUT", "PATCH", "DELETE", "HEAD", "BREW"];

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(3, '\n');
    let target = parts.next().unwrap_or("");
    let body = parts.next().unwrap_or("");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    if path.trim_start_matches('/').starts_with("database") || path.contains("sys/mounts") {
        return;
    }
    let Ok(method) = Method::from_bytes(METHODS[first as usize % METHODS.len()].as_bytes()) else {
        return;
    };
    let w = world();
    let mut headers = HeaderMap::new();
    if first & 0x80 == 0 {
        headers.insert("x-vault-token", HeaderValue::from_str(&w.root).unwrap());
    }
    let response = w.rt.block_on(seawall_vault::http::serve(
        &w.vault,
        &method,
        path,
        query,
        &headers,
        axum::body::Bytes::copy_from_slice(body.as_bytes()),
        None,
    ));
    assert!(response.status().as_u16() >= 200);
});
