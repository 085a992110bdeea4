//! Regressions from a user trial: a `CREATEROLE`-only admin, Vault-style revocation statements
//! that drop the role themselves, re-pointing a connection with live leases, and renew/revoke
//! races.

use crate::env::*;
use seawall_vault::backend::Backend;
use seawall_vault::lease::LeaseEngine;
use seawall_vault::request::{Operation, Request};
use seawall_vault::VaultError;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_createrole_only_admin_revokes_a_credential_that_owns_a_table() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    let admin = format!("swadm_{}", env.tag);
    let pw = format!("admpw{}", env.tag);
    let schema = format!("sws_{}", env.tag);
    env.admin
        .batch_execute(&format!(
            "CREATE ROLE {admin} LOGIN CREATEROLE PASSWORD '{pw}'; \
             CREATE SCHEMA {schema} AUTHORIZATION {admin}"
        ))
        .await
        .unwrap();
    env.write(
        "config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": url_for(&env.url, "{{username}}", "{{password}}", None),
            "username": admin, "password": pw,
            "allowed_roles": "*", "username_prefix": env.prefix,
        }),
    )
    .await
    .expect("configure as the CREATEROLE admin");
    env.write(
        "roles/app",
        json!({
            "db_name": "pg",
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                format!("GRANT USAGE, CREATE ON SCHEMA {schema} TO \"{{{{name}}}}\""),
            ],
        }),
    )
    .await
    .expect("write role");
    let (user, password, lease) = env.creds("app").await;
    let c = env.login(&user, &password).await.expect("cred logs in");
    c.batch_execute(&format!("CREATE TABLE {schema}.t (x int)"))
        .await
        .expect("cred creates a table");
    env.leases
        .revoke(&lease)
        .await
        .expect("a CREATEROLE-only admin revokes");
    assert!(!env.role_exists(&user).await, "role dropped");
    assert!(c.query_one("SELECT 1", &[]).await.is_err(), "session ended");
    let owner: String = env
        .admin
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE schemaname = $1 AND tablename = 't'",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, admin, "the table went to the admin");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_style_revocation_statements_that_drop_the_role_succeed() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    env.write(
        "roles/v",
        json!({
            "db_name": "pg",
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";"
            ],
            "revocation_statements": [
                "REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM \"{{name}}\";",
                "DROP ROLE IF EXISTS \"{{name}}\";"
            ],
        }),
    )
    .await
    .expect("write role");
    let (user, _, lease) = env.creds("v").await;
    env.leases
        .revoke(&lease)
        .await
        .expect("revocation statements that drop the role are a success");
    assert!(!env.role_exists(&user).await);
    assert!(env.leases.lookup(&lease).is_none());
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_with_live_leases_cannot_be_pointed_elsewhere() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    env.role("app", json!({})).await;
    let (user, _, lease) = env.creds("app").await;
    let elsewhere = json!({
        "connection_url": url_for(&env.url, "{{username}}", "{{password}}", Some("template1")),
    });
    let before = env.snapshot();
    let e = env.write("config/pg", elsewhere.clone()).await.unwrap_err();
    assert!(
        matches!(&e, VaultError::Invalid(m) if m.contains("live leases") && m.contains("revoke_leases=true")),
        "{e}"
    );
    assert_eq!(env.snapshot(), before, "nothing stored changed");
    let other_user = json!({"username": "someone_else", "verify_connection": false});
    assert!(env.write("config/pg", other_user).await.is_err());
    // The same place with the same password again (a password-only write) is fine.
    env.write("config/pg", json!({"password": env.root_password}))
        .await
        .expect("password-only change");
    assert!(env.role_exists(&user).await);
    let mut req =
        Request::new(Operation::Update, &env.mount.path, "config/pg").with_data(elsewhere);
    req.query.insert("revoke_leases".into(), "true".into());
    env.backend
        .handle(&req)
        .await
        .expect("re-point with revoke_leases");
    assert!(
        !env.role_exists(&user).await,
        "the old server's role was dropped"
    );
    assert!(env.leases.lookup(&lease).is_none());
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renew_and_revoke_races_end_in_revoked_not_upstream_errors() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    env.role("app", json!({})).await;
    // A renew of a role that is already gone says the lease was revoked.
    let (user, _, lease) = env.creds("app").await;
    let stored = env.leases.lookup(&lease).unwrap();
    env.admin
        .batch_execute(&format!("DROP OWNED BY \"{user}\"; DROP ROLE \"{user}\""))
        .await
        .unwrap();
    let e = env
        .backend
        .renew(&stored, stored.expire_time + 60)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, VaultError::Invalid(m) if m.contains("was revoked")),
        "{e}"
    );
    env.leases.revoke(&lease).await.unwrap();
    // Concurrent revocations of one role, and renewals racing them.
    for _ in 0..8 {
        let (user, _, lease) = env.creds("app").await;
        let stored = env.leases.lookup(&lease).unwrap();
        let mut tasks = Vec::new();
        for i in 0..4 {
            let (b, l) = (env.backend.clone(), stored.clone());
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    b.revoke(&l).await
                } else {
                    match b.renew(&l, l.expire_time + 60).await {
                        Err(VaultError::Invalid(m)) if m.contains("was revoked") => Ok(()),
                        other => other,
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap().expect("no upstream error in a race");
        }
        assert!(!env.role_exists(&user).await);
        env.leases.revoke(&lease).await.unwrap();
    }
    env.cleanup().await;
}
