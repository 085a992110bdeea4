//! The database engine against a real PostgreSQL.
//!
//! Start a throw-away cluster and point the tests at it:
//!
//! ```sh
//! export SEAWALL_TEST_PG_URL="$(scripts/pg-test.sh start)"
//! cargo test -p seawall-vault --test postgres
//! ```
//!
//! Without `SEAWALL_TEST_PG_URL` every test says so and passes, except under `CI=true`, where
//! that is a failure. The outage test stops and restarts the server through
//! `scripts/pg-test.sh halt|resume`, so it runs only against that script's cluster. Tests run
//! one at a time (they share the cluster, and one of them stops it).

mod env;
mod safety;
mod trial;

use env::*;
use seawall_vault::backend::Backend;
use seawall_vault::lease::{Lease, LeaseEngine, LeaseState};
use seawall_vault::request::{Operation, Request};
use serde_json::{json, Value};
use std::str::FromStr;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creds_log_in_renew_and_are_gone_after_revoke() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    env.role("app", json!({})).await;
    let r = env.read("creds/app").await.unwrap();
    let d = r.data.clone().unwrap();
    let lease = r.lease.clone().unwrap();
    let (user, password) = (
        d["username"].as_str().unwrap(),
        d["password"].as_str().unwrap(),
    );
    assert!(
        user.starts_with(&format!("{}app_", env.prefix)) && user.len() <= 63,
        "{user}"
    );
    assert!(password.len() >= 32 && password.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        d["port"].as_u64(),
        Some(
            tokio_postgres::Config::from_str(&env.url)
                .unwrap()
                .get_ports()
                .first()
                .copied()
                .unwrap_or(5432) as u64
        )
    );
    assert!(lease.lease_id.starts_with("database/creds/app/"));
    assert!(
        (3590..=3600).contains(&lease.lease_duration),
        "{}",
        lease.lease_duration
    );
    let stored = env.leases.lookup(&lease.lease_id).unwrap();
    assert_eq!(stored.state, LeaseState::Active);
    assert_eq!(stored.internal["username"], user);
    assert_eq!(stored.internal["connection"], "pg");

    let client = env
        .login(user, password)
        .await
        .expect("issued credential logs in");
    let me: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(me, user);
    // VALID UNTIL is the lease end; renewal moves it.
    assert_eq!(valid_until(&env.admin, user).await, stored.expire_time);
    env.leases.renew(&lease.lease_id, Some(600)).await.unwrap();
    let renewed = env.leases.lookup(&lease.lease_id).unwrap();
    assert_eq!(valid_until(&env.admin, user).await, renewed.expire_time);

    env.leases.revoke(&lease.lease_id).await.unwrap();
    assert!(
        client.query_one("SELECT 1", &[]).await.is_err(),
        "the open session is ended"
    );
    assert!(
        env.login(user, password).await.is_err(),
        "login fails after revoke"
    );
    assert!(!env.role_exists(user).await, "role gone from pg_roles");
    assert!(env.leases.lookup(&lease.lease_id).is_none());
    // Revoking again is fine.
    env.backend.revoke(&stored).await.unwrap();

    // A credential outlives neither its TTL: VALID UNTIL refuses the login afterwards.
    let r = env.write("creds/app", json!({"ttl": 2})).await.unwrap();
    let d = r.data.unwrap();
    let (u2, p2) = (
        d["username"].as_str().unwrap(),
        d["password"].as_str().unwrap(),
    );
    env.login(u2, p2).await.expect("short credential logs in");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert!(
        env.login(u2, p2).await.is_err(),
        "login fails after the TTL"
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_owning_objects_and_holding_grants_in_two_databases_is_revoked_cleanly() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    env.role("owner", json!({})).await;
    let other_db = format!("swdb_{}", env.tag);
    env.admin
        .batch_execute(&format!("CREATE DATABASE {other_db}"))
        .await
        .unwrap();
    let (user, password, lease) = env.creds("owner").await;

    // In the main database: a table of its own, granted on to someone else.
    let c = env.login(&user, &password).await.unwrap();
    let t1 = format!("t_{}", env.tag);
    c.batch_execute(&format!(
        "CREATE TABLE {t1} (id int); GRANT SELECT ON {t1} TO {}",
        env.root
    ))
    .await
    .unwrap();
    // In the second database: a privilege on someone else's table, and a table of its own.
    let admin2 = connect(&url_for(
        &env.url,
        &env.root,
        &env.root_password,
        Some(&other_db),
    ))
    .await
    .unwrap();
    admin2
        .batch_execute(&format!(
            "CREATE TABLE shared (id int); GRANT SELECT ON shared TO \"{user}\"; GRANT CREATE ON SCHEMA public TO \"{user}\""
        ))
        .await
        .unwrap();
    let c2 = connect(&url_for(&env.url, &user, &password, Some(&other_db)))
        .await
        .unwrap();
    c2.batch_execute("CREATE TABLE mine (id int)")
        .await
        .unwrap();

    env.leases
        .revoke(&lease)
        .await
        .expect("revocation succeeds despite objects and grants");
    assert!(!env.role_exists(&user).await);
    // Its objects now belong to the root user.
    let owner: String = env
        .admin
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = $1",
            &[&t1],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, env.root);
    let owner2: String = admin2
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'mine'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner2, env.root);
    drop((c, c2, admin2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    env.admin
        .batch_execute(&format!("DROP DATABASE {other_db} WITH (FORCE)"))
        .await
        .unwrap();
    env.admin
        .batch_execute(&format!("DROP TABLE {t1}"))
        .await
        .unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_during_an_outage_fails_then_succeeds_when_postgres_is_back() {
    let Some((_g, mut env)) = setup().await else {
        return;
    };
    let Some(script) = pg_script() else {
        eprintln!("skipped: SEAWALL_TEST_PG_URL is not the cluster of scripts/pg-test.sh (needed to stop it)");
        env.cleanup().await;
        return;
    };
    env.configure().await;
    env.role("outage", json!({})).await;
    let (user, _, lease) = env.creds("outage").await;
    let run = |cmd: &str| {
        let st = std::process::Command::new(&script)
            .arg(cmd)
            .status()
            .unwrap();
        assert!(st.success(), "pg-test.sh {cmd}");
    };
    run("halt");
    let err = env
        .leases
        .revoke(&lease)
        .await
        .expect_err("revocation fails while PostgreSQL is down");
    run("resume");
    assert_eq!(err.status(), 502, "{err}");
    assert!(!err.to_string().contains(&env.root_password));
    let kept = env
        .leases
        .lookup(&lease)
        .expect("the lease is kept for a retry");
    assert_eq!(kept.state, LeaseState::Revoking);
    env.admin = connect(&env.url).await.unwrap();
    assert!(env.role_exists(&user).await);
    env.leases
        .revoke(&lease)
        .await
        .expect("revocation succeeds once PostgreSQL is back");
    assert!(!env.role_exists(&user).await);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_drops_orphans_and_keeps_leased_and_pending_roles() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    env.role("rec", json!({})).await;
    let (live, _, _) = env.creds("rec").await;
    // A role of the generated shape and no lease, owning a table: an orphan.
    let orphan = format!("{}rec_orphan01_1900000000", env.prefix);
    env.admin
        .batch_execute(&format!(
            "CREATE ROLE {orphan} LOGIN; GRANT CREATE ON SCHEMA public TO {orphan}; SET ROLE {orphan}; CREATE TABLE t_{} (id int); RESET ROLE",
            env.tag
        ))
        .await
        .unwrap();
    // A role being created right now: its lease is still Pending.
    let pending = format!("{}rec_pending1_1900000000", env.prefix);
    let mut l = Lease::new("database/", "database/creds/rec", chrono_now(), 600, 600);
    l.internal = json!({"connection": "pg", "username": pending, "role": "rec"});
    let pending_id = l.id.clone();
    env.leases.create_pending(l).unwrap();
    env.admin
        .batch_execute(&format!("CREATE ROLE {pending} LOGIN"))
        .await
        .unwrap();

    let r = env
        .write("reconcile/pg", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(r["dropped"], json!([orphan]));
    assert_eq!(r["kept"], json!(2));
    assert!(!env.role_exists(&orphan).await);
    assert!(env.role_exists(&live).await && env.role_exists(&pending).await);
    // Again: nothing left to drop.
    let r = env
        .write("reconcile/pg", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(r["dropped"], json!([]));
    env.leases.abandon(&pending_id);
    env.admin
        .batch_execute(&format!("DROP TABLE t_{}", env.tag))
        .await
        .unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_role_rotates_while_a_client_keeps_querying() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    let user = format!("app_{}", env.tag);
    env.admin
        .batch_execute(&format!(
            "CREATE ROLE {user} LOGIN PASSWORD 'initial-{0}'",
            env.tag
        ))
        .await
        .unwrap();
    env.write(
        "static-roles/app",
        json!({"db_name": "pg", "username": user, "rotation_period": "5s", "overlap": "2s"}),
    )
    .await
    .expect("static role");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    env.backend.clone().spawn(stop_rx);

    // The application: re-reads static-creds every 500 ms and logs in afresh for every query.
    let mut seen = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    let started = std::time::Instant::now();
    let mut creds = (String::new(), String::new());
    let mut last_read = std::time::Instant::now() - Duration::from_secs(1);
    let mut queries = 0;
    while started.elapsed() < Duration::from_secs(12) {
        if last_read.elapsed() >= Duration::from_millis(500) {
            let d = env.read("static-creds/app").await.unwrap().data.unwrap();
            creds = (
                d["username"].as_str().unwrap().to_owned(),
                d["password"].as_str().unwrap().to_owned(),
            );
            seen.insert(creds.clone());
            last_read = std::time::Instant::now();
        }
        match env.login(&creds.0, &creds.1).await {
            Ok(c) => {
                if let Err(e) = c.query_one("SELECT 1", &[]).await {
                    failures.push(e.to_string());
                }
                queries += 1;
            }
            Err(e) => failures.push(format!("{}: {e}", creds.0)),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        failures.is_empty(),
        "queries failed during rotation: {failures:?}"
    );
    assert!(
        seen.len() >= 3,
        "expected at least two rotations, saw {} credentials",
        seen.len()
    );
    assert!(queries > 50);
    let users: std::collections::BTreeSet<_> = seen.iter().map(|c| c.0.clone()).collect();
    assert_eq!(users.len(), 2, "two logins used in turn: {users:?}");

    // rotate-role: the previous credential works during the overlap, not after it.
    let d = env.read("static-creds/app").await.unwrap().data.unwrap();
    let old = (
        d["username"].as_str().unwrap().to_owned(),
        d["password"].as_str().unwrap().to_owned(),
    );
    env.write("rotate-role/app", json!({})).await.unwrap();
    env.login(&old.0, &old.1)
        .await
        .expect("previous credential valid during the overlap");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(
        env.login(&old.0, &old.1).await.is_err(),
        "previous credential invalid after the overlap"
    );
    let view = env.read("static-roles/app").await.unwrap().data.unwrap();
    assert_eq!(view["last_error"], Value::Null);
    assert_eq!(view["username"], json!(user));
    let _ = stop_tx.send(true);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_static_rotation_is_visible_and_raises_an_event() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    let user = format!("app_{}", env.tag);
    env.admin
        .batch_execute(&format!("CREATE ROLE {user} LOGIN"))
        .await
        .unwrap();
    env.write(
        "static-roles/svc",
        json!({"db_name": "pg", "username": user, "rotation_period": 60}),
    )
    .await
    .unwrap();
    // The first rotation moved to the twin; the user disappears behind the engine's back, so
    // rotating into it fails.
    env.admin
        .batch_execute(&format!("DROP ROLE {user}"))
        .await
        .unwrap();
    let err = env.write("rotate-role/svc", json!({})).await.unwrap_err();
    assert_eq!(err.status(), 502, "{err}");
    let view = env.read("static-roles/svc").await.unwrap().data.unwrap();
    assert!(
        view["last_error"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{view}"
    );
    assert_eq!(view["failed_attempts"], json!(1));
    let events = env.events.0.lock().unwrap().clone();
    assert!(events
        .iter()
        .any(|e| format!("{:?}", e.kind).contains("vault.database.static_rotation_failed")));
    // The current credential still works.
    let d = env.read("static-creds/svc").await.unwrap().data.unwrap();
    assert_eq!(d["username"], json!(format!("{user}_b")));
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_root_hides_the_password_and_everything_still_works() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    env.role("app", json!({})).await;
    let view = env.read("config/pg").await.unwrap().data.unwrap();
    assert!(!view.to_string().contains(&env.root_password));
    env.write("rotate-root/pg", json!({}))
        .await
        .expect("rotate-root");
    assert!(
        env.login(&env.root, &env.root_password).await.is_err(),
        "old root password refused"
    );
    let (user, password, lease) = env.creds("app").await;
    env.login(&user, &password)
        .await
        .expect("credential after rotate-root logs in");
    env.leases.revoke(&lease).await.unwrap();
    assert!(!env.role_exists(&user).await);

    // A crash after ALTER ROLE but before the new password was kept: the pending one is used.
    let key = format!("db/{}/config/pg", env.mount.uuid);
    let mut stored: Value = env.barrier.get(&key).unwrap().unwrap();
    let crashed = format!("Pending{}Password{}", env.tag, env.tag);
    stored["pending_password"] = json!(crashed);
    env.barrier.put(&key, &stored).unwrap();
    env.admin
        .batch_execute(&format!("ALTER ROLE {} PASSWORD '{crashed}'", env.root))
        .await
        .unwrap();
    env.write("reset/pg", json!({})).await.unwrap();
    let (user, _, lease) = env.creds("app").await;
    let stored: Value = env.barrier.get(&key).unwrap().unwrap();
    assert_eq!(stored["password"], json!(crashed));
    assert_eq!(stored["pending_password"], Value::Null);
    env.leases.revoke(&lease).await.unwrap();
    assert!(!env.role_exists(&user).await);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_nothing_stored_changes() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    env.role("app", json!({"max_ttl": "1h", "default_ttl": "10m"}))
        .await;
    let before = env.snapshot();
    let base = json!({"db_name": "pg", "creation_statements": "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}'"});
    let with = |k: &str, v: Value| {
        let mut d = base.clone();
        d[k] = v;
        d
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "roles/bad",
            with("creation_statements", json!("CREATE ROLE \"{{nme}}\"")),
            "unknown placeholder",
        ),
        (
            "roles/bad",
            with("creation_statements", json!("CREATE ROLE \"{{name\"")),
            "never closed",
        ),
        (
            "roles/bad",
            with(
                "creation_statements",
                json!("CREATE ROLE \"{{name}}\" WITH NOSUCHOPTION"),
            ),
            "creation_statements[0] failed",
        ),
        (
            "roles/bad",
            with("revocation_statements", json!("DROP TABEL \"{{name}}\"")),
            "revocation_statements[0] failed",
        ),
        (
            "roles/bad",
            with("db_name", json!("nope")),
            "unknown connection `nope`",
        ),
        (
            "roles/bad",
            json!({"db_name": "pg", "creation_statements": "CREATE ROLE \"{{name}}\"", "default_ttl": "3h", "max_ttl": "1h"}),
            "default_ttl 10800s is above max_ttl 3600s",
        ),
        (
            "roles/bad",
            with("max_ttl", json!("800h")),
            "above the system maximum",
        ),
        (
            "roles/app",
            json!({"max_ttl": "1m"}),
            "default_ttl 600s is above max_ttl 60s",
        ),
        ("creds/nope", json!({}), "unknown role `nope`"),
        (
            "creds/app",
            json!({"ttl": "2h"}),
            "above the role's max_ttl",
        ),
        (
            "static-roles/s",
            json!({"db_name": "pg", "username": "no_such_user_x", "rotation_period": 60}),
            "does not exist",
        ),
        (
            "static-roles/s",
            json!({"db_name": "pg", "username": "x", "rotation_period": 2}),
            "below the minimum",
        ),
        (
            "config/pg",
            json!({"connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:1/x?sslmode=disable"}),
            "error verifying connection",
        ),
    ];
    for (path, data, want) in cases {
        let err = env
            .write(path, data.clone())
            .await
            .expect_err(&format!("{path} {data}"));
        assert_eq!(err.status(), 400, "{path}: {err}");
        assert!(
            err.to_string().contains(want),
            "{path}: `{err}` lacks `{want}`"
        );
    }
    for path in ["creds/x", "config/nope", "roles/nope"] {
        let err = env.read(path).await.unwrap_err();
        assert!(matches!(err.status(), 400 | 404), "{path}: {err}");
    }
    assert_eq!(
        env.snapshot(),
        before,
        "a refused request changed stored state"
    );
    assert!(env.leases.list("database/").is_empty());

    // Deleting a role or a connection with live leases is refused unless asked to revoke them.
    let (user, _, _) = env.creds("app").await;
    let err = env
        .call(Operation::Delete, "roles/app", json!({}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("live leases"), "{err}");
    let err = env
        .call(Operation::Delete, "config/pg", json!({}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("live leases"), "{err}");
    assert!(env.role_exists(&user).await);
    let mut del = Request::new(Operation::Delete, "database/", "roles/app");
    del.query.insert("revoke_leases".into(), "true".into());
    env.backend
        .handle(&del)
        .await
        .expect("delete with revoke_leases");
    assert!(!env.role_exists(&user).await);
    assert!(env.read("roles/app").await.is_err());
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_credentials_are_distinct_and_deleting_the_connection_revokes_them() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    env.role("burst", json!({})).await;
    let env = std::sync::Arc::new(env);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let env = env.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for _ in 0..5 {
                let t = std::time::Instant::now();
                let (user, _, _) = env.creds("burst").await;
                out.push((user, t.elapsed()));
            }
            out
        }));
    }
    let mut users = std::collections::BTreeSet::new();
    let mut times = Vec::new();
    for t in tasks {
        for (u, d) in t.await.unwrap() {
            users.insert(u);
            times.push(d);
        }
    }
    times.sort();
    eprintln!(
        "issued {} credentials, 8 at a time: p50 {:?}, p99 {:?}",
        times.len(),
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
    assert_eq!(users.len(), 40, "every credential has its own role");
    let r = env
        .write("reconcile/pg", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(r["dropped"], json!([]));
    assert_eq!(r["kept"], json!(40));

    let mut del = Request::new(Operation::Delete, "database/", "config/pg");
    del.query.insert("revoke_leases".into(), "true".into());
    env.backend
        .handle(&del)
        .await
        .expect("delete with revoke_leases");
    for u in &users {
        assert!(
            !env.role_exists(u).await,
            "{u} was revoked with its connection"
        );
    }
    assert!(env.leases.list("database/").is_empty());
    assert!(env.read("config/pg").await.is_err());
    let env = std::sync::Arc::into_inner(env).expect("tasks are done");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_verify_the_server_certificate() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    let Some(script) = pg_script() else {
        eprintln!("skipped: SEAWALL_TEST_PG_URL is not the cluster of scripts/pg-test.sh (its CA is needed)");
        env.cleanup().await;
        return;
    };
    let out = std::process::Command::new(&script)
        .arg("ca")
        .output()
        .unwrap();
    let ca = std::fs::read_to_string(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let url = url_for(&env.url, "{{username}}", "{{password}}", None)
        .replace("sslmode=disable", "sslmode=require");
    let conn = |ca: Option<&str>| {
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": url,
            "username": env.root,
            "password": env.root_password,
            "allowed_roles": "*",
            "username_prefix": env.prefix,
            "tls_ca": ca,
        })
    };
    // Not trusted by the system's roots: refused.
    let err = env.write("config/pg", conn(None)).await.unwrap_err();
    assert_eq!(err.status(), 400, "{err}");
    assert!(
        err.to_string().contains("error verifying connection"),
        "{err}"
    );
    assert!(env.read("config/pg").await.is_err());
    // With the cluster's CA: connections are encrypted and everything works.
    env.write("config/pg", conn(Some(&ca)))
        .await
        .expect("TLS connection with the test CA");
    env.role("app", json!({})).await;
    let (user, password, lease) = env.creds("app").await;
    env.login(&user, &password).await.unwrap();
    let encrypted: bool = env
        .admin
        .query_one(
            "SELECT coalesce(bool_and(s.ssl), false) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.usename = $1",
            &[&env.root],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted, "the engine's root connections use TLS");
    env.leases.revoke(&lease).await.unwrap();
    assert!(!env.role_exists(&user).await);
    env.cleanup().await;
}

/// Polls until `user` is gone from `pg_roles`, for at most `limit`.
async fn gone_within(env: &Env, user: &str, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if let Ok(admin) = env::connect(&env.url).await {
            let found = admin
                .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&user])
                .await
                .map(|r| r.is_some())
                .unwrap_or(true);
            if !found {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_leases_are_revoked_even_across_an_outage() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    env.role("short", json!({"default_ttl": 2, "max_ttl": 60}))
        .await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    env.leases.clone().spawn(stop_rx);

    // The lease manager revokes an expired credential: the role is gone soon after its TTL.
    let (user, _, _) = env.creds("short").await;
    assert!(
        gone_within(&env, &user, Duration::from_secs(6)).await,
        "{user} still exists after its TTL"
    );

    // PostgreSQL is down when the lease expires: revocation is retried until it is back.
    if let Some(script) = pg_script() {
        let (user, _, lease) = env.creds("short").await;
        let run = |cmd: &str| {
            let st = std::process::Command::new(&script)
                .arg(cmd)
                .status()
                .unwrap();
            assert!(st.success(), "pg-test.sh {cmd}");
        };
        run("halt");
        tokio::time::sleep(Duration::from_secs(5)).await;
        let l = env
            .leases
            .lookup(&lease)
            .expect("kept while PostgreSQL is down");
        assert!(l.attempts >= 1 && l.last_error.is_some(), "{l:?}");
        run("resume");
        assert!(
            gone_within(&env, &user, Duration::from_secs(20)).await,
            "{user} was not revoked after PostgreSQL came back"
        );
        assert!(env.leases.lookup(&lease).is_none());
    } else {
        eprintln!(
            "outage part skipped: SEAWALL_TEST_PG_URL is not the cluster of scripts/pg-test.sh"
        );
    }
    let _ = stop_tx.send(true);
    env.cleanup().await;
}
