//! Tests of the token store and the `auth/token/` engine: creation rules, TTLs, renewal,
//! use limits, revocation of whole trees with their leases, and the lookup cache.

use super::*;
use crate::backend::Backend;
use crate::lease::tests::{Fixture, T0};
use crate::request::{Operation, Request};
use serde_json::json;
use std::sync::Arc;

struct Env {
    f: Fixture,
    tokens: Arc<TokenStore>,
    root: String,
    root_entry: Arc<TokenEntry>,
}

fn env() -> Env {
    let f = Fixture::new();
    let tokens = TokenStore::open(f.barrier.clone(), f.shared_clock()).unwrap();
    tokens.attach_leases(&f.leases);
    tokens.set_audit(f.audit.clone());
    let root = tokens.create_root().unwrap();
    let root_entry = tokens.lookup(&root).unwrap().unwrap();
    Env {
        f,
        tokens,
        root,
        root_entry,
    }
}

fn spec(parent: &Arc<TokenEntry>, policies: &[&str]) -> TokenSpec {
    TokenSpec {
        parent: Some(Arc::clone(parent)),
        policies: policies.iter().map(|s| s.to_string()).collect(),
        ..TokenSpec::default()
    }
}

#[test]
fn tokens_look_like_vault_and_are_never_stored() {
    let e = env();
    let rest = e.root.strip_prefix("hvs.").unwrap();
    assert!(rest.len() >= 24);
    assert!(rest.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(e.root_entry.policies, vec!["root"]);
    assert_eq!(e.root_entry.expire_time, 0);
    assert!(e.root_entry.parent.is_none());

    let (child, _) = e.tokens.create(spec(&e.root_entry, &["app"])).unwrap();
    // Neither token appears in any key or any (opened) stored value.
    for key in e.f.barrier.keys("").unwrap() {
        assert!(
            !key.contains(&e.root[4..]) && !key.contains(&child[4..]),
            "{key}"
        );
        if let Ok(Some(v)) = e.f.barrier.get::<serde_json::Value>(&key) {
            let text = v.to_string();
            assert!(
                !text.contains(&e.root[4..]) && !text.contains(&child[4..]),
                "{key}"
            );
        }
    }
    // A reopened store (same sealed HMAC key) still finds the tokens.
    let again = TokenStore::open(e.f.barrier.clone(), e.f.shared_clock()).unwrap();
    assert_eq!(
        again.lookup(&child).unwrap().unwrap().policies,
        ["app", "default"]
    );
    assert!(again.lookup("hvs.unknown").unwrap().is_none());
    assert!(again.lookup("").unwrap().is_none());
}

#[test]
fn child_policies_must_be_a_subset_unless_the_parent_is_root() {
    let e = env();
    let (_, app) = e
        .tokens
        .create(spec(&e.root_entry, &["app", "ops"]))
        .unwrap();
    assert_eq!(app.policies, ["app", "default", "ops"]);
    let err = e.tokens.create(spec(&app, &["app", "admin"])).unwrap_err();
    assert!(err.to_string().contains("`admin`"), "{err}");
    assert_eq!(err.status(), 400);
    assert!(e.tokens.create(spec(&app, &["root"])).is_err());
    let (_, sub) = e.tokens.create(spec(&app, &["ops"])).unwrap();
    assert_eq!(sub.policies, ["default", "ops"]);
    // No policies given: the parent's.
    let (_, same) = e.tokens.create(spec(&app, &[])).unwrap();
    assert_eq!(same.policies, app.policies);
    let mut s = spec(&e.root_entry, &["x"]);
    s.no_default_policy = true;
    assert_eq!(e.tokens.create(s).unwrap().1.policies, ["x"]);
}

#[test]
fn ttls_follow_vaults_rules() {
    let e = env();
    let (_, d) = e.tokens.create(spec(&e.root_entry, &["a"])).unwrap();
    assert_eq!(d.expire_time, T0 + DEFAULT_TTL);
    let mut s = spec(&e.root_entry, &["a"]);
    s.ttl = 100 * 24 * 3600;
    assert_eq!(e.tokens.create(s).unwrap().1.expire_time, T0 + MAX_TTL);
    let mut s = spec(&e.root_entry, &["a"]);
    s.ttl = 600;
    s.explicit_max_ttl = 300;
    assert_eq!(e.tokens.create(s).unwrap().1.expire_time, T0 + 300);
    let mut s = spec(&e.root_entry, &["a"]);
    s.ttl = -1;
    assert!(e.tokens.create(s).is_err());
    let mut s = spec(&e.root_entry, &["a"]);
    s.bound_cidrs = vec!["10.0.0.0/8".into(), "not-a-cidr".into()];
    let err = e.tokens.create(s).unwrap_err().to_string();
    assert!(err.contains("not-a-cidr"), "{err}");
}

#[test]
fn renew_never_goes_past_explicit_max_or_the_system_max() {
    let e = env();
    let mut s = spec(&e.root_entry, &["a"]);
    s.ttl = 100;
    s.explicit_max_ttl = 150;
    let (_, t) = e.tokens.create(s).unwrap();
    e.f.clock.advance(90);
    let r = e.tokens.renew(&t.id, 100).unwrap();
    assert_eq!(r.expire_time, T0 + 150);
    // Without increment: the creation TTL from now (still capped).
    let mut s = spec(&e.root_entry, &["a"]);
    s.ttl = 100;
    let (_, u) = e.tokens.create(s).unwrap();
    e.f.clock.advance(50);
    assert_eq!(
        e.tokens.renew(&u.id, 0).unwrap().expire_time,
        T0 + 140 + 100
    );
    // The system maximum, counted from creation.
    let r = e.tokens.renew(&u.id, 10 * MAX_TTL).unwrap();
    assert_eq!(r.expire_time, T0 + 90 + MAX_TTL);
    // Periodic tokens get their period each time, past the system maximum.
    let mut s = spec(&e.root_entry, &["a"]);
    s.period = 3600;
    let (_, p) = e.tokens.create(s).unwrap();
    assert_eq!(p.expire_time, T0 + 140 + 3600);
    for _ in 0..(MAX_TTL / 3000 + 2) {
        e.f.clock.advance(3000);
        let r = e.tokens.renew(&p.id, 5).unwrap();
        assert_eq!(r.expire_time, e.f.clock_now() + 3600);
    }
    assert!(e.f.clock_now() > T0 + MAX_TTL);
    // Not renewable.
    let mut s = spec(&e.root_entry, &["a"]);
    s.renewable = false;
    let (_, n) = e.tokens.create(s).unwrap();
    let err = e.tokens.renew(&n.id, 10).unwrap_err().to_string();
    assert!(err.contains("not renewable"), "{err}");
    assert!(e.tokens.renew(&e.root_entry.id, 10).is_err());
}

impl Fixture {
    fn clock_now(&self) -> i64 {
        seawall_core::clock::Clock::now(&self.clock)
    }
}

#[test]
fn expired_tokens_are_refused_and_their_trees_revoked() {
    let e = env();
    let mut s = spec(&e.root_entry, &["a"]);
    s.ttl = 10;
    let (tok, t) = e.tokens.create(s).unwrap();
    let (child, _) = e.tokens.create(spec(&t, &["a"])).unwrap();
    assert!(e.tokens.lookup(&tok).unwrap().is_some());
    e.f.clock.advance(10);
    assert!(e.tokens.lookup(&tok).unwrap().is_none());
    // The child has its own TTL but dies with its parent when the loop runs.
    assert!(e.tokens.lookup(&child).unwrap().is_some());
    assert_eq!(e.tokens.expire_due(), 2);
    assert!(e.tokens.lookup(&child).unwrap().is_none());
    assert_eq!(e.tokens.expire_due(), 0);
}

#[test]
fn use_limited_tokens_die_at_their_last_use() {
    let e = env();
    let mut s = spec(&e.root_entry, &["a"]);
    s.num_uses = 2;
    let (tok, t) = e.tokens.create(s).unwrap();
    e.tokens.consume_use(&t).unwrap();
    let t = e.tokens.lookup(&tok).unwrap().unwrap();
    assert_eq!(t.num_uses, 1);
    e.tokens.consume_use(&t).unwrap();
    assert!(e.tokens.lookup(&tok).unwrap().is_none());
    assert!(e.tokens.consume_use(&t).is_err());
    // Unlimited tokens are untouched.
    e.tokens.consume_use(&e.root_entry).unwrap();
    assert!(e.tokens.lookup(&e.root).unwrap().is_some());
}

#[tokio::test]
async fn revoking_a_token_revokes_its_descendants_and_their_leases() {
    let e = env();
    let (gp_tok, gp) = e.tokens.create(spec(&e.root_entry, &["a"])).unwrap();
    let (p_tok, p) = e.tokens.create(spec(&gp, &["a"])).unwrap();
    let (c_tok, c) = e.tokens.create(spec(&p, &["a"])).unwrap();
    let (other_tok, _) = e.tokens.create(spec(&e.root_entry, &["a"])).unwrap();
    let lease = e.f.issue("ro", 600, 0, Some(&c.id));
    let keep = e.f.issue("ro", 600, 0, None);

    let ids = e.tokens.revoke_tree(&gp.id).unwrap();
    assert_eq!(ids.len(), 3);
    for t in [&gp_tok, &p_tok, &c_tok] {
        assert!(e.tokens.lookup(t).unwrap().is_none());
    }
    assert!(e.tokens.lookup(&other_tok).unwrap().is_some());
    assert!(e.tokens.lookup_accessor(&c.accessor).unwrap().is_none());
    // The grandchild's lease is scheduled at once and revoked by the next pass.
    assert_eq!(
        e.f.leases.lookup(&lease.id).unwrap().state,
        crate::lease::LeaseState::Revoking
    );
    e.f.leases.tick().await;
    assert!(e.f.leases.lookup(&lease.id).is_none());
    assert!(e.f.leases.lookup(&keep.id).is_some());
    assert!(e.f.engine.revoked.lock().unwrap().contains(&lease.id));
    // No tree index is left behind for the revoked tokens.
    for key in e.f.barrier.keys("token/parent/").unwrap() {
        assert!(!ids.iter().any(|id| key.contains(id.as_str())), "{key}");
    }
    assert_eq!(e.f.barrier.keys("token/parent/").unwrap().len(), 1);
    let actions = e.f.audit_actions();
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "vault.token.revoke")
            .count(),
        3
    );
}

#[test]
fn revoke_orphan_keeps_the_children() {
    let e = env();
    let (_, p) = e.tokens.create(spec(&e.root_entry, &["a"])).unwrap();
    let (c_tok, _) = e.tokens.create(spec(&p, &["a"])).unwrap();
    assert_eq!(e.tokens.revoke_orphan(&p.id).unwrap(), vec![p.id.clone()]);
    let c = e.tokens.lookup(&c_tok).unwrap().unwrap();
    assert!(c.parent.is_none());
    assert!(TokenStore::open(e.f.barrier.clone(), e.f.shared_clock())
        .unwrap()
        .lookup(&c_tok)
        .unwrap()
        .unwrap()
        .parent
        .is_none());
}

#[test]
fn the_cache_never_serves_a_revoked_token() {
    let e = env();
    let (tok, t) = e.tokens.create(spec(&e.root_entry, &["a"])).unwrap();
    let (child, _) = e.tokens.create(spec(&t, &["a"])).unwrap();
    // Warm the cache from a fresh store so entries come from storage.
    assert!(e.tokens.lookup(&tok).unwrap().is_some());
    assert!(e.tokens.lookup(&child).unwrap().is_some());
    e.tokens.revoke_tree(&t.id).unwrap();
    assert!(e.tokens.lookup(&tok).unwrap().is_none());
    assert!(e.tokens.lookup(&child).unwrap().is_none());

    // Lookups racing revocations: once revoke_tree returns, no lookup may succeed.
    for _ in 0..20 {
        let (tok, t) = e.tokens.create(spec(&e.root_entry, &["a"])).unwrap();
        let store = Arc::clone(&e.tokens);
        let tok2 = tok.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let h = std::thread::spawn(move || {
            while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = store.lookup(&tok2);
            }
        });
        e.tokens.revoke_tree(&t.id).unwrap();
        for _ in 0..200 {
            assert!(e.tokens.lookup(&tok).unwrap().is_none());
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        h.join().unwrap();
        assert!(e.tokens.lookup(&tok).unwrap().is_none());
    }
}

fn backend(e: &Env) -> TokenBackend {
    TokenBackend::new(Arc::clone(&e.tokens), Arc::clone(&e.f.leases))
}

fn req(
    op: Operation,
    rel: &str,
    token: &str,
    entry: &Arc<TokenEntry>,
    body: serde_json::Value,
) -> Request {
    let mut r = Request::new(op, "auth/token/", rel)
        .with_data(body)
        .with_token(Arc::clone(entry));
    r.client_token = Some(seawall_core::Secret::new(token.to_owned()));
    r
}

#[tokio::test]
async fn the_token_api_answers_like_vault() {
    let e = env();
    let b = backend(&e);
    assert_eq!(b.kind(), "token");
    let resp = b
        .handle(&req(
            Operation::Update,
            "create",
            &e.root,
            &e.root_entry,
            json!({"policies": ["app"], "ttl": "1h", "meta": {"team": "x"}, "display_name": "Web App", "num_uses": 5}),
        ))
        .await
        .unwrap();
    let auth = resp.auth.unwrap();
    assert!(auth.client_token.starts_with("hvs."));
    assert_eq!(auth.policies, ["app", "default"]);
    assert_eq!(auth.lease_duration, 3600);
    assert!(auth.renewable && !auth.orphan);
    assert_eq!(auth.num_uses, 5);
    let tok = auth.client_token.clone();
    let entry = e.tokens.lookup(&tok).unwrap().unwrap();

    let me = b
        .handle(&req(
            Operation::Read,
            "lookup-self",
            &tok,
            &entry,
            json!({}),
        ))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["id"], tok.as_str());
    assert_eq!(me["accessor"], auth.accessor.as_str());
    assert_eq!(me["display_name"], "token-web-app");
    assert_eq!(me["creation_ttl"], 3600);
    assert_eq!(me["ttl"], 3600);
    assert_eq!(me["meta"]["team"], "x");
    assert_eq!(me["path"], "auth/token/create");
    assert_eq!(me["type"], "service");
    assert_eq!(me["orphan"], false);
    assert_eq!(me["issue_time"], rfc3339(T0));
    assert_eq!(me["expire_time"], rfc3339(T0 + 3600));

    // lookup by token and by accessor: no `id`.
    let other = b
        .handle(&req(
            Operation::Update,
            "lookup",
            &e.root,
            &e.root_entry,
            json!({"token": tok}),
        ))
        .await
        .unwrap()
        .data
        .unwrap();
    assert!(other.get("id").is_none());
    assert_eq!(other["accessor"], auth.accessor.as_str());
    let by_acc = b
        .handle(&req(
            Operation::Update,
            "lookup-accessor",
            &e.root,
            &e.root_entry,
            json!({"accessor": auth.accessor}),
        ))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(by_acc["policies"], json!(["app", "default"]));
    let root_me = b
        .handle(&req(
            Operation::Read,
            "lookup-self",
            &e.root,
            &e.root_entry,
            json!({}),
        ))
        .await
        .unwrap()
        .data
        .unwrap();
    assert!(root_me["expire_time"].is_null());
    assert_eq!(root_me["ttl"], 0);

    // renew-self with an increment.
    e.f.clock.advance(600);
    let r = b
        .handle(&req(
            Operation::Update,
            "renew-self",
            &tok,
            &entry,
            json!({"increment": "2h"}),
        ))
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(r.client_token, tok);
    assert_eq!(r.lease_duration, 7200);

    // A non-root token cannot create orphans; root can.
    let err = b
        .handle(&req(
            Operation::Update,
            "create-orphan",
            &tok,
            &entry,
            json!({}),
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sudo"), "{err}");
    let err = b
        .handle(&req(
            Operation::Update,
            "create",
            &tok,
            &entry,
            json!({"no_parent": true}),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    let orphan = b
        .handle(&req(
            Operation::Update,
            "create-orphan",
            &e.root,
            &e.root_entry,
            json!({"policies": "x,y"}),
        ))
        .await
        .unwrap()
        .auth
        .unwrap();
    assert!(orphan.orphan);
    // With the sudo check wired, a sudo holder may.
    let sudo = TokenBackend::new(Arc::clone(&e.tokens), Arc::clone(&e.f.leases))
        .with_sudo_check(Arc::new(|_: &Request| true));
    assert!(
        sudo.handle(&req(
            Operation::Update,
            "create-orphan",
            &tok,
            &entry,
            json!({})
        ))
        .await
        .unwrap()
        .auth
        .unwrap()
        .orphan
    );

    // Bad input.
    for body in [
        json!({"ttl": "soon"}),
        json!({"type": "batch"}),
        json!({"id": "mine"}),
        json!({"policies": 3}),
    ] {
        let err = b
            .handle(&req(
                Operation::Update,
                "create",
                &e.root,
                &e.root_entry,
                body.clone(),
            ))
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{body}: {err}");
    }
    assert_eq!(
        b.handle(&req(
            Operation::Delete,
            "create",
            &e.root,
            &e.root_entry,
            json!({})
        ))
        .await
        .unwrap_err()
        .status(),
        405
    );
    assert_eq!(
        b.handle(&req(
            Operation::Read,
            "nope",
            &e.root,
            &e.root_entry,
            json!({})
        ))
        .await
        .unwrap_err()
        .status(),
        404
    );

    // revoke-accessor, then the token is gone.
    let r = b
        .handle(&req(
            Operation::Update,
            "revoke-accessor",
            &e.root,
            &e.root_entry,
            json!({"accessor": auth.accessor}),
        ))
        .await
        .unwrap();
    assert_eq!(r.status, 204);
    assert!(e.tokens.lookup(&tok).unwrap().is_none());
    // revoke-self.
    let (t2, e2) = e.tokens.create(spec(&e.root_entry, &["a"])).unwrap();
    b.handle(&req(Operation::Update, "revoke-self", &t2, &e2, json!({})))
        .await
        .unwrap();
    assert!(e.tokens.lookup(&t2).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_loop_revokes_expired_tokens_and_their_leases() {
    let f = Fixture::new();
    // Real time: the loop sleeps on tokio's timer until the token's expiry.
    let clock: seawall_core::clock::SharedClock = Arc::new(seawall_core::SystemClock);
    let leases = crate::lease::LeaseManager::open(
        f.barrier.clone(),
        clock.clone(),
        f.events.clone(),
        f.audit.clone(),
    )
    .unwrap();
    leases.register_engine("database/", f.engine.clone());
    let tokens = TokenStore::open(f.barrier.clone(), clock.clone()).unwrap();
    let _backend = TokenBackend::new(Arc::clone(&tokens), Arc::clone(&leases));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    leases.clone().spawn(stop_rx);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let root = tokens.create_root().unwrap();
    let root_entry = tokens.lookup(&root).unwrap().unwrap();
    let mut s = spec(&root_entry, &["a"]);
    s.ttl = 1;
    let (tok, t) = tokens.create(s).unwrap();
    let (child, c) = tokens.create(spec(&t, &["a"])).unwrap();
    let now = clock.now();
    let mut l = crate::lease::Lease::new("database/", "database/creds/ro", now, 600, 0);
    l.token = Some(c.id.clone());
    leases.create_pending(l.clone()).unwrap();
    leases.activate(&l.id).unwrap();

    let start = std::time::Instant::now();
    while leases.lookup(&l.id).is_some() {
        assert!(
            start.elapsed().as_secs() < 5,
            "lease of an expired token's child not revoked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(tokens.lookup(&tok).unwrap().is_none());
    assert!(tokens.lookup(&child).unwrap().is_none());
    assert!(tokens.lookup_accessor(&c.accessor).unwrap().is_none());
    assert!(tokens.lookup(&root).unwrap().is_some());
    stop_tx.send(true).unwrap();
}

#[tokio::test]
async fn accessors_list_needs_root_and_roles_are_refused() {
    let e = env();
    let b = backend(&e);
    let (tok, t) = e.tokens.create(spec(&e.root_entry, &["a"])).unwrap();
    let keys = b
        .handle(&req(
            Operation::List,
            "accessors",
            &e.root,
            &e.root_entry,
            json!({}),
        ))
        .await
        .unwrap()
        .data
        .unwrap();
    let keys = keys["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&json!(t.accessor)));
    let err = b
        .handle(&req(Operation::List, "accessors", &tok, &t, json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    let err = b
        .handle(&req(
            Operation::Update,
            "create",
            &e.root,
            &e.root_entry,
            json!({"role_name": "r"}),
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("role_name"), "{err}");
}

#[test]
fn the_expiry_index_survives_a_restart() {
    let e = env();
    let mut s = spec(&e.root_entry, &["a"]);
    s.ttl = 10;
    let (tok, _) = e.tokens.create(s).unwrap();
    e.f.clock.advance(11);
    let again = TokenStore::open(e.f.barrier.clone(), e.f.shared_clock()).unwrap();
    assert_eq!(again.expire_due(), 1);
    assert!(again.accessors().unwrap().len() == 1);
    assert!(e
        .f
        .barrier
        .get::<TokenEntry>(&id_key(&again.hash(&tok)))
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_ttl_above_the_maximum_is_capped_with_a_warning() {
    let e = env();
    let b = backend(&e);
    let r = b
        .handle(&req(
            Operation::Update,
            "create",
            &e.root,
            &e.root_entry,
            json!({"ttl": "10000h"}),
        ))
        .await
        .unwrap();
    assert_eq!(r.auth.unwrap().lease_duration, MAX_TTL);
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].contains("capped"), "{:?}", r.warnings);
    let r = b
        .handle(&req(
            Operation::Update,
            "create",
            &e.root,
            &e.root_entry,
            json!({"ttl": 60}),
        ))
        .await
        .unwrap();
    assert!(r.warnings.is_empty());
}
