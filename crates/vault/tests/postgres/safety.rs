//! What the engine must never touch: ordinary users that merely share the name prefix, an
//! existing role that happens to be called `<user>_b`, the connection's own root user; and
//! what a deleted static role must not leave behind (a twin that still logs in).

use crate::env::*;
use serde_json::json;

async fn comment(env: &Env, role: &str) -> Option<String> {
    env.admin
        .query_one(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1",
            &[&role],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_drops_only_generated_names_and_never_users_or_superusers() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    env.role("rec", json!({})).await;
    let p = &env.prefix;
    // Ordinary users that start with the prefix, one of them a static role's user.
    let owner = format!("{p}owner");
    let other = format!("{p}owner_x");
    // The generated shape, but a superuser, or a static role's user: kept.
    let mighty = format!("{p}rec_mighty01_1900000000");
    let stat = format!("{p}rec_static01_1900000000");
    // The generated shape, for a role this mount does not have: kept.
    let foreign = format!("{p}nothere_foreign1_1900000000");
    // The one real orphan.
    let orphan = format!("{p}rec_orphan01_1900000000");
    env.admin
        .batch_execute(&format!(
            "CREATE ROLE {owner} LOGIN; CREATE ROLE {other} LOGIN; \
             CREATE ROLE {mighty} LOGIN SUPERUSER; CREATE ROLE {stat} LOGIN; \
             CREATE ROLE {foreign} LOGIN; CREATE ROLE {orphan} LOGIN"
        ))
        .await
        .unwrap();
    for (name, user) in [("st1", &owner), ("st2", &stat)] {
        env.write(
            &format!("static-roles/{name}"),
            json!({"db_name": "pg", "username": user, "rotation_period": 600}),
        )
        .await
        .expect("static role");
    }
    let r = env
        .write("reconcile/pg", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(r["dropped"], json!([orphan]), "{r}");
    assert!(!env.role_exists(&orphan).await);
    for kept in [
        &owner,
        &format!("{owner}_b"),
        &other,
        &mighty,
        &stat,
        &format!("{stat}_b"),
        &foreign,
    ] {
        assert!(env.role_exists(kept).await, "{kept} was dropped");
    }
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_unrelated_twin_is_refused_and_left_alone() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    let victim = format!("victim_{}", env.tag);
    env.admin
        .batch_execute(&format!(
            "CREATE ROLE {victim} LOGIN; \
             CREATE ROLE {victim}_b LOGIN SUPERUSER PASSWORD 'keepme'"
        ))
        .await
        .unwrap();
    let err = env
        .write(
            "static-roles/st2",
            json!({"db_name": "pg", "username": victim, "rotation_period": 600}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400, "{err}");
    assert!(
        err.to_string().contains("was not created by Seawall"),
        "{err}"
    );
    assert!(env.read("static-roles/st2").await.is_err());
    env.login(&format!("{victim}_b"), "keepme")
        .await
        .expect("the unrelated role keeps its password");

    // Even a role carrying Seawall's mark is refused when it is more powerful than the user.
    env.admin
        .batch_execute(&format!(
            "COMMENT ON ROLE {victim}_b IS 'seawall static-role twin of {victim}'"
        ))
        .await
        .unwrap();
    let err = env
        .write(
            "static-roles/st2",
            json!({"db_name": "pg", "username": victim, "rotation_period": 600}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SUPERUSER"), "{err}");
    env.login(&format!("{victim}_b"), "keepme")
        .await
        .expect("the unrelated role keeps its password");

    // A twin Seawall creates carries the mark, and is accepted again after a failed attempt.
    let user = format!("plain_{}", env.tag);
    env.admin
        .batch_execute(&format!("CREATE ROLE {user} LOGIN"))
        .await
        .unwrap();
    env.write(
        "static-roles/ok",
        json!({"db_name": "pg", "username": user, "rotation_period": 600}),
    )
    .await
    .expect("static role");
    assert_eq!(
        comment(&env, &format!("{user}_b")).await.as_deref(),
        Some(format!("seawall static-role twin of {user}").as_str())
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_static_role_ends_its_twin() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    let user = format!("svc_{}", env.tag);
    env.admin
        .batch_execute(&format!(
            "CREATE ROLE {user} LOGIN PASSWORD 'user-{0}'; GRANT CREATE ON SCHEMA public TO {user}",
            env.tag
        ))
        .await
        .unwrap();
    env.write(
        "static-roles/del",
        json!({"db_name": "pg", "username": user, "rotation_period": 600}),
    )
    .await
    .expect("static role");
    let d = env.read("static-creds/del").await.unwrap().data.unwrap();
    let (twin, pw) = (
        d["username"].as_str().unwrap().to_owned(),
        d["password"].as_str().unwrap().to_owned(),
    );
    assert_eq!(twin, format!("{user}_b"));
    // The twin works and owns a table it made.
    let session = env.login(&twin, &pw).await.expect("twin logs in");
    session
        .batch_execute(&format!("CREATE TABLE tw_{} (id int)", env.tag))
        .await
        .unwrap();

    env.call(
        seawall_vault::request::Operation::Delete,
        "static-roles/del",
        json!({}),
    )
    .await
    .expect("delete");
    assert!(env.read("static-roles/del").await.is_err());
    assert!(
        session.query_one("SELECT 1", &[]).await.is_err(),
        "the twin's open session is ended"
    );
    assert!(
        env.login(&twin, &pw).await.is_err(),
        "the last handed-out twin credential no longer logs in"
    );
    assert!(!env.role_exists(&twin).await, "the twin is dropped");
    let owner: String = env
        .admin
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = $1",
            &[&format!("tw_{}", env.tag)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, user, "the twin's table goes to the user");
    // The user itself is left as it is (Vault does the same).
    env.login(&user, &format!("user-{}", env.tag))
        .await
        .expect("the user's password is unchanged");
    env.admin
        .batch_execute(&format!("DROP TABLE tw_{}", env.tag))
        .await
        .unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connections_root_user_cannot_be_a_static_role() {
    let Some((_g, env)) = setup().await else {
        return;
    };
    env.configure().await;
    let user = format!("own_{}", env.tag);
    env.admin
        .batch_execute(&format!("CREATE ROLE {user} LOGIN"))
        .await
        .unwrap();
    for data in [
        json!({"db_name": "pg", "username": env.root, "rotation_period": 600}),
        json!({"db_name": "pg", "username": user, "twin_username": env.root, "rotation_period": 600}),
    ] {
        let err = env.write("static-roles/rt", data).await.unwrap_err();
        assert_eq!(err.status(), 400, "{err}");
        assert!(err.to_string().contains("root user"), "{err}");
    }
    env.login(&env.root, &env.root_password)
        .await
        .expect("the root password is untouched");
    env.write("reconcile/pg", json!({}))
        .await
        .expect("the connection still works");
    env.cleanup().await;
}
