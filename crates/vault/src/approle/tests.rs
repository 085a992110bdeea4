//! AppRole tests against the real token store and an in-memory sealed store.

use super::*;
use crate::barrier::tests::memory_barrier;
use seawall_core::clock::ManualClock;
use serde_json::{json, Value};
use std::net::IpAddr;

struct Env {
    b: Arc<AppRoleBackend>,
    tokens: Arc<TokenStore>,
    clock: ManualClock,
    barrier: Barrier,
}

fn env() -> Env {
    let barrier = memory_barrier();
    let clock = ManualClock::at(1_800_000_000);
    let tokens = TokenStore::open(barrier.clone(), Arc::new(clock.clone())).unwrap();
    let mount = MountEntry {
        path: "auth/approle/".into(),
        kind: "approle".into(),
        uuid: "m1".into(),
        accessor: "auth_approle_1".into(),
        description: String::new(),
        options: Default::default(),
    };
    let b = Arc::new(AppRoleBackend::new(
        &mount,
        barrier.clone(),
        tokens.clone(),
        Arc::new(clock.clone()),
    ));
    Env {
        b,
        tokens,
        clock,
        barrier,
    }
}

async fn call(e: &Env, op: Operation, rel: &str, body: Value) -> Result<Response, VaultError> {
    e.b.handle(&Request::new(op, "auth/approle/", rel).with_data(body))
        .await
}

async fn ok(e: &Env, op: Operation, rel: &str, body: Value) -> Value {
    match call(e, op, rel, body).await {
        Ok(r) => r.data.unwrap_or(Value::Null),
        Err(err) => panic!("{rel}: {err}"),
    }
}

async fn login_from(
    e: &Env,
    role_id: &str,
    secret_id: &str,
    addr: Option<&str>,
) -> Result<Response, VaultError> {
    let mut req = Request::new(Operation::Update, "auth/approle/", "login")
        .with_data(json!({"role_id": role_id, "secret_id": secret_id}));
    req.client_addr = addr.map(|a| a.parse::<IpAddr>().unwrap());
    e.b.handle(&req).await
}

async fn login(e: &Env, role_id: &str, secret_id: &str) -> Result<Response, VaultError> {
    login_from(e, role_id, secret_id, Some("127.0.0.1")).await
}

async fn role_id(e: &Env, role: &str) -> String {
    ok(
        e,
        Operation::Read,
        &format!("role/{role}/role-id"),
        json!({}),
    )
    .await["role_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn new_secret(e: &Env, role: &str, body: Value) -> (String, String) {
    let d = ok(
        e,
        Operation::Update,
        &format!("role/{role}/secret-id"),
        body,
    )
    .await;
    (
        d["secret_id"].as_str().unwrap().to_owned(),
        d["secret_id_accessor"].as_str().unwrap().to_owned(),
    )
}

fn assert_login_failed(r: Result<Response, VaultError>) {
    let err = r.expect_err("login must fail");
    assert_eq!(err.status(), 400);
    assert_eq!(err.to_string(), LOGIN_FAILED);
}

#[tokio::test]
async fn full_flow_role_secret_login_token() {
    let e = env();
    let r = call(
        &e,
        Operation::Create,
        "role/Web",
        json!({"token_policies": "app, db", "token_ttl": "1h", "token_max_ttl": "4h", "secret_id_ttl": "10m"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 204);
    let role = ok(&e, Operation::Read, "role/web", json!({})).await;
    assert_eq!(role["token_policies"], json!(["app", "db"]));
    assert_eq!(role["token_ttl"], 3600);
    assert_eq!(role["secret_id_ttl"], 600);
    assert_eq!(role["bind_secret_id"], true);
    assert!(role.get("role_id").is_none());
    assert_eq!(
        ok(&e, Operation::List, "role", json!({})).await["keys"],
        json!(["web"])
    );

    let rid = role_id(&e, "web").await;
    assert_eq!(rid.len(), 36);
    let (sid, acc) = new_secret(&e, "web", json!({"metadata": "{\"host\": \"a1\"}"})).await;
    let listed = ok(&e, Operation::List, "role/web/secret-id", json!({})).await;
    assert_eq!(listed["keys"], json!([acc.clone()]));
    let looked = ok(
        &e,
        Operation::Update,
        "role/web/secret-id/lookup",
        json!({"secret_id": sid}),
    )
    .await;
    assert_eq!(looked["secret_id_accessor"], acc);
    assert_eq!(looked["metadata"]["host"], "a1");
    assert_eq!(looked["secret_id_ttl"], 600);

    let auth = login(&e, &rid, &sid).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["app", "db", "default"]);
    assert_eq!(auth.lease_duration, 3600);
    assert!(auth.orphan);
    assert_eq!(auth.metadata.as_ref().unwrap()["role_name"], "web");
    assert_eq!(auth.metadata.as_ref().unwrap()["host"], "a1");
    let entry = e.tokens.lookup(&auth.client_token).unwrap().unwrap();
    assert_eq!(entry.path, "auth/approle/login");
    assert_eq!(entry.explicit_max_ttl, 4 * 3600);

    // Destroyed by accessor: the secret id no longer logs in.
    let r = call(
        &e,
        Operation::Update,
        "role/web/secret-id-accessor/destroy",
        json!({"secret_id_accessor": acc}),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 204);
    assert_login_failed(login(&e, &rid, &sid).await);
    let err = call(
        &e,
        Operation::Update,
        "role/web/secret-id-accessor/lookup",
        json!({"secret_id_accessor": acc}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 404);
}

#[tokio::test]
async fn secret_ids_are_stored_only_as_hmacs() {
    let e = env();
    ok(&e, Operation::Create, "role/r", json!({})).await;
    let rid = role_id(&e, "r").await;
    let (sid, _) = new_secret(&e, "r", json!({})).await;
    let (custom, _) = {
        let d = ok(
            &e,
            Operation::Update,
            "role/r/custom-secret-id",
            json!({"secret_id": "my-own-secret-value"}),
        )
        .await;
        assert_eq!(d["secret_id"], "my-own-secret-value");
        ("my-own-secret-value".to_owned(), ())
    };
    let keys = e.barrier.keys("").unwrap();
    for k in &keys {
        assert!(
            !k.contains(&sid) && !k.contains(&custom) && !k.contains(&rid),
            "{k}"
        );
    }
    assert!(keys.contains(&"approle/m1/hmac-key".to_owned()));
    // Custom secret ids may not repeat; both log in.
    let err = call(
        &e,
        Operation::Update,
        "role/r/custom-secret-id",
        json!({"secret_id": custom}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("already exists"));
    login(&e, &rid, &sid).await.unwrap();
    login(&e, &rid, &custom).await.unwrap();
}

#[tokio::test]
async fn secret_id_ttl_expires_with_the_clock() {
    let e = env();
    ok(
        &e,
        Operation::Create,
        "role/r",
        json!({"secret_id_ttl": 60}),
    )
    .await;
    let rid = role_id(&e, "r").await;
    let (sid, _) = new_secret(&e, "r", json!({})).await;
    let (short, _) = new_secret(&e, "r", json!({"ttl": "10s"})).await;
    // Longer than the role allows: refused, nothing made.
    let err = call(
        &e,
        Operation::Update,
        "role/r/secret-id",
        json!({"ttl": "2m"}),
    )
    .await
    .unwrap_err();
    assert!(err
        .to_string()
        .contains("longer than the role's secret_id_ttl"));
    assert_eq!(
        ok(&e, Operation::List, "role/r/secret-id", json!({})).await["keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    e.clock.advance(11);
    assert_login_failed(login(&e, &rid, &short).await);
    e.clock.advance(48);
    login(&e, &rid, &sid).await.unwrap();
    e.clock.advance(1);
    assert_login_failed(login(&e, &rid, &sid).await);
    let err = call(
        &e,
        Operation::Update,
        "role/r/secret-id/lookup",
        json!({"secret_id": sid}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 404);
    assert_eq!(
        call(&e, Operation::List, "role/r/secret-id", json!({}))
            .await
            .unwrap_err()
            .status(),
        404
    );
    assert!(e.barrier.keys("approle/m1/secret-id/").unwrap().is_empty());
}

#[tokio::test]
async fn tidy_removes_expired_secret_ids() {
    let e = env();
    ok(&e, Operation::Create, "role/r", json!({})).await;
    new_secret(&e, "r", json!({"ttl": 5})).await;
    let (keep, _) = new_secret(&e, "r", json!({})).await;
    e.clock.advance(6);
    let d = ok(&e, Operation::Update, "tidy/secret-id", json!({})).await;
    assert_eq!(d["removed"], 1);
    assert_eq!(e.barrier.keys("approle/m1/secret-id/").unwrap().len(), 1);
    assert_eq!(e.barrier.keys("approle/m1/accessor/").unwrap().len(), 1);
    login(&e, &role_id(&e, "r").await, &keep).await.unwrap();
}

#[tokio::test]
async fn num_uses_are_counted_down() {
    let e = env();
    ok(
        &e,
        Operation::Create,
        "role/r",
        json!({"secret_id_num_uses": 2, "token_num_uses": 3}),
    )
    .await;
    let rid = role_id(&e, "r").await;
    let (sid, acc) = new_secret(&e, "r", json!({})).await;
    let err = call(
        &e,
        Operation::Update,
        "role/r/secret-id",
        json!({"num_uses": 5}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("num_uses"));
    let auth = login(&e, &rid, &sid).await.unwrap().auth.unwrap();
    assert_eq!(auth.num_uses, 3);
    let d = ok(
        &e,
        Operation::Update,
        "role/r/secret-id-accessor/lookup",
        json!({"secret_id_accessor": acc}),
    )
    .await;
    assert_eq!(d["secret_id_num_uses"], 1);
    login(&e, &rid, &sid).await.unwrap();
    assert_login_failed(login(&e, &rid, &sid).await);
    assert!(e.barrier.keys("approle/m1/accessor/").unwrap().is_empty());
}

#[test]
fn a_one_use_secret_id_serves_one_of_many_concurrent_logins() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    rt.block_on(async {
        let e = Arc::new(env());
        ok(
            &e,
            Operation::Create,
            "role/r",
            json!({"secret_id_num_uses": 1}),
        )
        .await;
        let rid = role_id(&e, "r").await;
        for _round in 0..5 {
            let (sid, _) = new_secret(&e, "r", json!({})).await;
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let (e, rid, sid) = (e.clone(), rid.clone(), sid.clone());
                tasks.push(tokio::spawn(
                    async move { login(&e, &rid, &sid).await.is_ok() },
                ));
            }
            let mut wins = 0;
            for t in tasks {
                wins += usize::from(t.await.unwrap());
            }
            assert_eq!(wins, 1);
        }
    });
}

#[tokio::test]
async fn cidr_bindings_are_checked_against_the_caller() {
    let e = env();
    ok(
        &e,
        Operation::Create,
        "role/r",
        json!({"secret_id_bound_cidrs": ["10.0.0.0/8"], "token_bound_cidrs": "10.0.0.0/8"}),
    )
    .await;
    let rid = role_id(&e, "r").await;
    let (sid, _) = new_secret(&e, "r", json!({"cidr_list": "10.1.0.0/16", "num_uses": 10})).await;
    assert_login_failed(login_from(&e, &rid, &sid, Some("192.168.1.1")).await);
    assert_login_failed(login_from(&e, &rid, &sid, Some("10.2.0.1")).await);
    assert_login_failed(login_from(&e, &rid, &sid, None).await);
    let auth = login_from(&e, &rid, &sid, Some("10.1.2.3"))
        .await
        .unwrap()
        .auth
        .unwrap();
    let entry = e.tokens.lookup(&auth.client_token).unwrap().unwrap();
    assert_eq!(entry.bound_cidrs, vec!["10.0.0.0/8"]);
    // A secret id may only narrow the role's blocks.
    let err = call(
        &e,
        Operation::Update,
        "role/r/secret-id",
        json!({"cidr_list": ["0.0.0.0/0"]}),
    )
    .await
    .unwrap_err();
    assert!(err
        .to_string()
        .contains("not inside the role's bound CIDR blocks"));
    let err = call(
        &e,
        Operation::Update,
        "role/r/secret-id",
        json!({"cidr_list": ["10.0.0.0/40"]}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not an address or CIDR block"));
}

#[tokio::test]
async fn without_bind_secret_id_a_cidr_binding_is_required() {
    let e = env();
    let err = call(
        &e,
        Operation::Create,
        "role/r",
        json!({"bind_secret_id": false}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("at least one constraint"));
    assert_eq!(
        call(&e, Operation::Read, "role/r", json!({}))
            .await
            .unwrap_err()
            .status(),
        404
    );
    ok(
        &e,
        Operation::Create,
        "role/r",
        json!({"bind_secret_id": false, "secret_id_bound_cidrs": "127.0.0.0/8"}),
    )
    .await;
    let rid = role_id(&e, "r").await;
    login_from(&e, &rid, "", Some("127.0.0.1")).await.unwrap();
    assert_login_failed(login_from(&e, &rid, "", Some("10.0.0.1")).await);
}

#[tokio::test]
async fn failed_logins_all_look_the_same() {
    let e = env();
    ok(&e, Operation::Create, "role/r", json!({})).await;
    let rid = role_id(&e, "r").await;
    let (sid, _) = new_secret(&e, "r", json!({})).await;
    assert_login_failed(login(&e, &rid, "wrong").await);
    assert_login_failed(login(&e, "unknown-role-id", &sid).await);
    assert_login_failed(login(&e, &rid, "").await);
    let err = call(&e, Operation::Update, "login", json!({"secret_id": sid}))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "missing role_id");
    // The real pair still works after the failures.
    login(&e, &rid, &sid).await.unwrap();
    assert!(e.b.unauthenticated("login"));
    assert!(!e.b.unauthenticated("role/r"));
}

#[tokio::test]
async fn role_id_can_be_set_and_must_be_unique() {
    let e = env();
    ok(&e, Operation::Create, "role/a", json!({})).await;
    ok(
        &e,
        Operation::Create,
        "role/b",
        json!({"role_id": "b-fixed-id"}),
    )
    .await;
    assert_eq!(role_id(&e, "b").await, "b-fixed-id");
    let old = role_id(&e, "a").await;
    let (sid, _) = new_secret(&e, "a", json!({})).await;
    let err = call(
        &e,
        Operation::Update,
        "role/a/role-id",
        json!({"role_id": "b-fixed-id"}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("already used"));
    assert_eq!(role_id(&e, "a").await, old);
    ok(
        &e,
        Operation::Update,
        "role/a/role-id",
        json!({"role_id": "a-new-id"}),
    )
    .await;
    assert_login_failed(login(&e, &old, &sid).await);
    login(&e, "a-new-id", &sid).await.unwrap();
    // A role's secret id does not log in to another role.
    assert_login_failed(login(&e, "b-fixed-id", &sid).await);
}

#[tokio::test]
async fn malformed_role_input_changes_nothing() {
    let e = env();
    ok(
        &e,
        Operation::Create,
        "role/r",
        json!({"token_policies": ["app"], "token_ttl": 60}),
    )
    .await;
    let before = ok(&e, Operation::Read, "role/r", json!({})).await;
    let keys_before = e.barrier.keys("").unwrap();
    for (body, needle) in [
        (json!({"token_ttl": "soon"}), "token_ttl"),
        (json!({"token_policies": ["app", "root"]}), "root tokens"),
        (json!({"token_type": "batch"}), "token_type"),
        (json!({"token_bound_cidrs": ["nope"]}), "token_bound_cidrs"),
        (json!({"secret_id_num_uses": -1}), "secret_id_num_uses"),
        (json!({"bind_secret_id": "maybe"}), "bind_secret_id"),
        (
            json!({"token_ttl": 7200, "token_max_ttl": 3600}),
            "token_max_ttl",
        ),
        (json!({"token_policies": 5}), "token_policies"),
    ] {
        let err = call(&e, Operation::Update, "role/r", body)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains(needle), "{err}");
        assert!(!err.to_string().contains('\n'));
    }
    assert!(call(&e, Operation::Create, "role/bad name", json!({}))
        .await
        .is_err());
    assert_eq!(ok(&e, Operation::Read, "role/r", json!({})).await, before);
    assert_eq!(e.barrier.keys("").unwrap(), keys_before);
    // Unknown fields are ignored with Vault's warning; a partial update keeps the rest.
    let r = call(
        &e,
        Operation::Update,
        "role/r",
        json!({"token_ttl": 90, "colour": "blue"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.warnings[0].contains("colour"));
    let after = ok(&e, Operation::Read, "role/r", json!({})).await;
    assert_eq!(after["token_ttl"], 90);
    assert_eq!(after["token_policies"], json!(["app"]));
}

#[tokio::test]
async fn deleting_a_role_removes_its_secret_ids() {
    let e = env();
    ok(&e, Operation::Create, "role/r", json!({})).await;
    let rid = role_id(&e, "r").await;
    let (sid, _) = new_secret(&e, "r", json!({})).await;
    assert!(e
        .b
        .exists(&Request::new(Operation::Update, "auth/approle/", "role/r"))
        .await
        .unwrap());
    assert_eq!(
        call(&e, Operation::Delete, "role/r", json!({}))
            .await
            .unwrap()
            .status,
        204
    );
    assert!(!e
        .b
        .exists(&Request::new(Operation::Update, "auth/approle/", "role/r"))
        .await
        .unwrap());
    assert_eq!(
        e.barrier.keys("approle/m1/").unwrap(),
        vec!["approle/m1/hmac-key"]
    );
    assert_login_failed(login(&e, &rid, &sid).await);
    // Re-creating the role does not revive the old credentials.
    ok(
        &e,
        Operation::Create,
        "role/r",
        json!({"role_id": rid.clone()}),
    )
    .await;
    assert_login_failed(login(&e, &rid, &sid).await);
    assert_eq!(
        call(&e, Operation::Update, "role/nope/secret-id", json!({}))
            .await
            .unwrap_err()
            .status(),
        404
    );
    assert_eq!(
        call(&e, Operation::Read, "nothing/here", json!({}))
            .await
            .unwrap_err()
            .status(),
        404
    );
    assert_eq!(
        call(&e, Operation::Delete, "login", json!({}))
            .await
            .unwrap_err()
            .status(),
        405
    );
}
