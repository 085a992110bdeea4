//! Tests of the KV engine against a real (in-memory SQLite) sealed store.

use super::*;
use crate::barrier::tests::memory_barrier;
use crate::request::Operation::{self, *};
use seawall_core::clock::ManualClock;
use serde_json::{json, Value};
use std::sync::Arc;

const T0: i64 = 1_700_000_000;

pub(super) struct Kv {
    pub kv: Arc<KvBackend>,
    pub clock: ManualClock,
    pub barrier: Barrier,
}

pub(super) fn mount() -> MountEntry {
    MountEntry {
        path: "secret/".into(),
        kind: "kv".into(),
        uuid: "m1".into(),
        accessor: "kv_1".into(),
        description: String::new(),
        options: Default::default(),
    }
}

pub(super) fn kv() -> Kv {
    let barrier = memory_barrier();
    let clock = ManualClock::at(T0);
    let kv = Arc::new(KvBackend::new(
        &mount(),
        barrier.clone(),
        Arc::new(clock.clone()),
    ));
    Kv { kv, clock, barrier }
}

pub(super) fn req(op: Operation, rel: &str, body: Value) -> Request {
    Request::new(op, "secret", rel).with_data(body)
}

impl Kv {
    pub(super) async fn call(
        &self,
        op: Operation,
        rel: &str,
        body: Value,
    ) -> Result<Response, VaultError> {
        self.kv.handle(&req(op, rel, body)).await
    }

    pub(super) async fn ok(&self, op: Operation, rel: &str, body: Value) -> Response {
        match self.call(op, rel, body).await {
            Ok(r) => r,
            Err(e) => panic!("{} {rel}: {e}", op.as_str()),
        }
    }

    pub(super) async fn put(&self, path: &str, data: Value) -> Value {
        let r = self
            .ok(Create, &format!("data/{path}"), json!({ "data": data }))
            .await;
        assert_eq!(r.status, 200);
        r.data.unwrap()
    }

    pub(super) async fn get(&self, path: &str) -> Response {
        self.get_version(path, None).await.unwrap()
    }

    pub(super) async fn get_version(
        &self,
        path: &str,
        v: Option<&str>,
    ) -> Result<Response, VaultError> {
        let mut r = req(Read, &format!("data/{path}"), json!({}));
        if let Some(v) = v {
            r.query.insert("version".into(), v.into());
        }
        self.kv.handle(&r).await
    }

    pub(super) async fn meta(&self, path: &str) -> Value {
        self.ok(Read, &format!("metadata/{path}"), json!({}))
            .await
            .data
            .unwrap()
    }

    /// Every stored key below the engine's root with its opened value.
    pub(super) fn snapshot(&self) -> Vec<(String, Value)> {
        self.barrier
            .keys("kv/")
            .unwrap()
            .into_iter()
            .map(|k| {
                let v: Value = self.barrier.get(&k).unwrap().unwrap();
                (k, v)
            })
            .collect()
    }

    pub(super) fn keys(&self) -> Vec<String> {
        self.barrier.keys("kv/").unwrap()
    }
}

pub(super) fn status(r: Result<Response, VaultError>) -> u16 {
    match r {
        Ok(r) => r.status,
        Err(e) => e.status(),
    }
}

#[tokio::test]
async fn write_then_read_versions() {
    let kv = kv();
    let w1 = kv.put("app/db", json!({"user": "a", "pw": "one"})).await;
    assert_eq!(w1["version"], 1);
    assert_eq!(w1["deletion_time"], "");
    assert_eq!(w1["destroyed"], false);
    assert_eq!(w1["custom_metadata"], Value::Null);
    assert_eq!(w1["created_time"], "2023-11-14T22:13:20Z");
    kv.clock.advance(5);
    let w2 = kv.put("app/db", json!({"user": "a", "pw": "two"})).await;
    assert_eq!(w2["version"], 2);

    let latest = kv.get("app/db").await;
    assert_eq!(latest.status, 200);
    let body = latest.data.unwrap();
    assert_eq!(body["data"], json!({"user": "a", "pw": "two"}));
    assert_eq!(body["metadata"]["version"], 2);
    assert_eq!(body["metadata"]["created_time"], "2023-11-14T22:13:25Z");

    let v1 = kv.get_version("app/db", Some("1")).await.unwrap();
    assert_eq!(v1.data.unwrap()["data"]["pw"], "one");
    let v0 = kv.get_version("app/db", Some("0")).await.unwrap();
    assert_eq!(v0.data.unwrap()["metadata"]["version"], 2);
    assert_eq!(status(kv.get_version("app/db", Some("3")).await), 404);
    assert_eq!(status(kv.get_version("app/nothing", None).await), 404);

    // Storage layout: one metadata record and one record per version.
    assert_eq!(
        kv.keys(),
        vec![
            "kv/m1/meta/app/db",
            "kv/m1/ver/app/db/1",
            "kv/m1/ver/app/db/2"
        ]
    );
    // Secret values are sealed in the store.
    let m = kv.meta("app/db").await;
    assert_eq!(m["current_version"], 2);
    assert_eq!(m["oldest_version"], 0);
    assert_eq!(m["created_time"], "2023-11-14T22:13:20Z");
    assert_eq!(m["updated_time"], "2023-11-14T22:13:25Z");
    assert_eq!(m["max_versions"], 0);
    assert_eq!(m["delete_version_after"], "0s");
    assert_eq!(m["versions"]["1"]["destroyed"], false);
    assert_eq!(m["versions"]["2"]["deletion_time"], "");
}

#[tokio::test]
async fn put_method_and_update_write_the_same_way() {
    let kv = kv();
    kv.ok(Update, "data/x", json!({"data": {"k": "v"}})).await;
    let r = kv.ok(Update, "data/x", json!({"data": {}})).await;
    assert_eq!(r.data.unwrap()["version"], 2);
    assert_eq!(kv.get("x").await.data.unwrap()["data"], json!({}));
}

#[tokio::test]
async fn check_and_set() {
    let kv = kv();
    // cas 0: only when absent.
    let r = kv
        .ok(
            Create,
            "data/c",
            json!({"data": {"a": 1}, "options": {"cas": 0}}),
        )
        .await;
    assert_eq!(r.data.unwrap()["version"], 1);
    let before = kv.snapshot();
    let e = kv
        .call(
            Update,
            "data/c",
            json!({"data": {"a": 2}, "options": {"cas": 0}}),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::CasMismatch));
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("check-and-set"));
    let e = kv
        .call(
            Update,
            "data/c",
            json!({"data": {"a": 2}, "options": {"cas": 5}}),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::CasMismatch));
    assert_eq!(kv.snapshot(), before, "a refused write changes nothing");
    // The right version is accepted, also spelled as a string.
    kv.ok(
        Update,
        "data/c",
        json!({"data": {"a": 2}, "options": {"cas": 1}}),
    )
    .await;
    kv.ok(
        Update,
        "data/c",
        json!({"data": {"a": 3}, "options": {"cas": "2"}}),
    )
    .await;
    assert_eq!(kv.get("c").await.data.unwrap()["data"]["a"], 3);
    // Empty options and a null cas mean no check.
    kv.ok(Update, "data/c", json!({"data": {"a": 4}, "options": {}}))
        .await;
    kv.ok(
        Update,
        "data/c",
        json!({"data": {"a": 5}, "options": {"cas": null}}),
    )
    .await;
}

#[tokio::test]
async fn cas_required_by_mount_or_by_key() {
    let kv = kv();
    kv.ok(Update, "config", json!({"cas_required": true})).await;
    let e = kv
        .call(Create, "data/a", json!({"data": {"x": 1}}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(
        e.to_string().contains("check-and-set parameter required"),
        "{e}"
    );
    assert!(kv.keys().iter().all(|k| !k.contains("/meta/")));
    kv.ok(
        Create,
        "data/a",
        json!({"data": {"x": 1}, "options": {"cas": 0}}),
    )
    .await;

    kv.ok(Update, "config", json!({"cas_required": false}))
        .await;
    kv.ok(Update, "data/b", json!({"data": {"x": 1}})).await;
    kv.ok(Update, "metadata/b", json!({"cas_required": true}))
        .await;
    assert_eq!(kv.meta("b").await["cas_required"], true);
    assert_eq!(
        status(kv.call(Update, "data/b", json!({"data": {"x": 2}})).await),
        400
    );
    kv.ok(
        Update,
        "data/b",
        json!({"data": {"x": 2}, "options": {"cas": 1}}),
    )
    .await;
    // Patch honours it too.
    assert_eq!(
        status(kv.call(Patch, "data/b", json!({"data": {"y": 1}})).await),
        400
    );
}

#[tokio::test]
async fn concurrent_cas_zero_writes_create_once() {
    let kv = kv();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let backend = kv.kv.clone();
        tasks.push(tokio::spawn(async move {
            let r = req(
                Create,
                "data/race",
                json!({"data": {"i": i}, "options": {"cas": 0}}),
            );
            backend.handle(&r).await.is_ok()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert_eq!(kv.meta("race").await["current_version"], 1);
}

#[tokio::test]
async fn max_versions_prunes_the_oldest() {
    let kv = kv();
    for i in 1..=12 {
        kv.put("d", json!({ "n": i })).await;
    }
    // Default: 10 kept.
    let m = kv.meta("d").await;
    assert_eq!(m["current_version"], 12);
    assert_eq!(m["oldest_version"], 3);
    assert_eq!(m["versions"].as_object().unwrap().len(), 10);
    assert!(m["versions"].get("2").is_none());
    assert_eq!(status(kv.get_version("d", Some("2")).await), 404);
    assert!(!kv.keys().contains(&"kv/m1/ver/d/2".to_owned()));
    assert!(kv.keys().contains(&"kv/m1/ver/d/3".to_owned()));

    // The mount's setting.
    kv.ok(Update, "config", json!({"max_versions": 3})).await;
    kv.put("d", json!({"n": 13})).await;
    let m = kv.meta("d").await;
    assert_eq!(m["oldest_version"], 11);
    let kept: Vec<&String> = m["versions"].as_object().unwrap().keys().collect();
    assert_eq!(kept, vec!["11", "12", "13"]);
    let ver_keys = kv.keys().iter().filter(|k| k.contains("/ver/d/")).count();
    assert_eq!(ver_keys, 3);

    // The key's own setting wins over the mount's.
    kv.ok(Update, "metadata/d", json!({"max_versions": 1}))
        .await;
    assert_eq!(kv.meta("d").await["versions"].as_object().unwrap().len(), 3);
    kv.put("d", json!({"n": 14})).await;
    let m = kv.meta("d").await;
    assert_eq!(m["oldest_version"], 14);
    assert_eq!(m["max_versions"], 1);
    assert_eq!(kv.get("d").await.data.unwrap()["data"]["n"], 14);
    assert_eq!(
        kv.keys().iter().filter(|k| k.contains("/ver/d/")).count(),
        1
    );
}

#[tokio::test]
async fn delete_undelete_destroy() {
    let kv = kv();
    for i in 1..=3 {
        kv.put("s", json!({ "n": i })).await;
    }
    // DELETE data/ soft-deletes the latest version.
    kv.clock.advance(10);
    let r = kv.ok(Delete, "data/s", json!({})).await;
    assert_eq!(r.status, 204);
    let gone = kv.get("s").await;
    assert_eq!(gone.status, 404);
    let body = gone.data.unwrap();
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["metadata"]["version"], 3);
    assert_eq!(body["metadata"]["deletion_time"], "2023-11-14T22:13:30Z");
    assert_eq!(body["metadata"]["destroyed"], false);
    // The data is still stored (soft delete).
    assert!(kv.keys().contains(&"kv/m1/ver/s/3".to_owned()));
    assert_eq!(kv.get_version("s", Some("2")).await.unwrap().status, 200);
    // Deleting again changes nothing.
    let before = kv.snapshot();
    kv.clock.advance(10);
    kv.ok(Delete, "data/s", json!({})).await;
    assert_eq!(kv.snapshot(), before);

    // delete/ by version; unknown versions are ignored.
    kv.ok(Update, "delete/s", json!({"versions": [1, 99]}))
        .await;
    assert_eq!(status(kv.get_version("s", Some("1")).await), 404);
    // undelete/ brings them back.
    kv.ok(Update, "undelete/s", json!({"versions": "1,3"}))
        .await;
    assert_eq!(kv.get_version("s", Some("1")).await.unwrap().status, 200);
    let latest = kv.get("s").await;
    assert_eq!(latest.status, 200);
    assert_eq!(latest.data.unwrap()["metadata"]["deletion_time"], "");

    // destroy/ removes the data for good; undelete cannot bring it back.
    kv.ok(Update, "destroy/s", json!({"versions": [2]})).await;
    assert!(!kv.keys().contains(&"kv/m1/ver/s/2".to_owned()));
    let d = kv.get_version("s", Some("2")).await.unwrap();
    assert_eq!(d.status, 404);
    let body = d.data.unwrap();
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["metadata"]["destroyed"], true);
    kv.ok(Update, "undelete/s", json!({"versions": [2]})).await;
    kv.ok(Update, "delete/s", json!({"versions": [2]})).await;
    let m = kv.meta("s").await;
    assert_eq!(m["versions"]["2"]["destroyed"], true);
    assert_eq!(m["versions"]["2"]["deletion_time"], "");
    assert_eq!(kv.get_version("s", Some("2")).await.unwrap().status, 404);

    // A destroyed version's neighbours are untouched; a new write is version 4.
    assert_eq!(kv.put("s", json!({"n": 4})).await["version"], 4);

    // On a missing secret these are quiet no-ops.
    for p in ["delete/none", "undelete/none", "destroy/none"] {
        let r = kv.ok(Update, p, json!({"versions": [1]})).await;
        assert_eq!(r.status, 204);
    }
    assert_eq!(kv.ok(Delete, "data/none", json!({})).await.status, 204);
    assert!(kv.keys().iter().all(|k| !k.contains("none")));
}

#[tokio::test]
async fn delete_version_after_uses_the_clock() {
    let kv = kv();
    kv.ok(Update, "config", json!({"delete_version_after": "1h"}))
        .await;
    let w = kv.put("t", json!({"a": 1})).await;
    assert_eq!(w["deletion_time"], "2023-11-14T23:13:20Z");
    // Scheduled, not yet deleted.
    assert_eq!(kv.get("t").await.status, 200);
    kv.clock.advance(3599);
    assert_eq!(kv.get("t").await.status, 200);
    kv.clock.advance(1);
    assert_eq!(kv.get("t").await.status, 404);
    // Undelete clears the schedule.
    kv.ok(Update, "undelete/t", json!({"versions": [1]})).await;
    kv.clock.advance(10_000);
    assert_eq!(kv.get("t").await.status, 200);

    // A shorter per-key setting applies; a longer one is capped at the mount's.
    kv.ok(Update, "metadata/u", json!({"delete_version_after": "10m"}))
        .await;
    let w = kv.put("u", json!({"a": 1})).await;
    assert_eq!(w["deletion_time"], "2023-11-15T02:10:00Z");
    assert_eq!(kv.meta("u").await["delete_version_after"], "10m0s");
    kv.ok(
        Update,
        "metadata/u",
        json!({"delete_version_after": 86_400}),
    )
    .await;
    let w = kv.put("u", json!({"a": 2})).await;
    assert_eq!(w["deletion_time"], "2023-11-15T03:00:00Z");
    // The mount setting read back in Go's format.
    let c = kv.ok(Read, "config", json!({})).await.data.unwrap();
    assert_eq!(c["delete_version_after"], "1h0m0s");
}

#[tokio::test]
async fn patch_merges() {
    let kv = kv();
    assert_eq!(
        status(kv.call(Patch, "data/p", json!({"data": {"a": 1}})).await),
        404
    );
    assert!(kv.keys().is_empty());
    kv.put("p", json!({"a": 1, "b": {"c": 1, "d": 2}, "keep": "x"}))
        .await;
    let r = kv
        .ok(
            Patch,
            "data/p",
            json!({"data": {"a": null, "b": {"c": null, "e": 3}, "f": [1, 2]}}),
        )
        .await;
    assert_eq!(r.data.unwrap()["version"], 2);
    assert_eq!(
        kv.get("p").await.data.unwrap()["data"],
        json!({"b": {"d": 2, "e": 3}, "f": [1, 2], "keep": "x"})
    );
    // CAS on patch.
    let before = kv.snapshot();
    let e = kv
        .call(
            Patch,
            "data/p",
            json!({"data": {"z": 1}, "options": {"cas": 1}}),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::CasMismatch));
    assert_eq!(kv.snapshot(), before);
    kv.ok(
        Patch,
        "data/p",
        json!({"data": {"z": 1}, "options": {"cas": 2}}),
    )
    .await;
    // A deleted current version cannot be patched.
    kv.ok(Delete, "data/p", json!({})).await;
    let before = kv.snapshot();
    assert_eq!(
        status(kv.call(Patch, "data/p", json!({"data": {"a": 1}})).await),
        404
    );
    assert_eq!(kv.snapshot(), before);
}

#[tokio::test]
async fn metadata_write_patch_delete() {
    let kv = kv();
    kv.ok(
        Create,
        "metadata/m",
        json!({"max_versions": 5, "custom_metadata": {"owner": "ops", "tier": "1"}}),
    )
    .await;
    let m = kv.meta("m").await;
    assert_eq!(m["current_version"], 0);
    assert_eq!(m["max_versions"], 5);
    assert_eq!(m["versions"], json!({}));
    assert_eq!(m["custom_metadata"], json!({"owner": "ops", "tier": "1"}));
    // Metadata without versions: a data read is 404.
    assert_eq!(status(kv.get_version("m", None).await), 404);
    // The custom metadata shows in data responses.
    let w = kv.put("m", json!({"a": 1})).await;
    assert_eq!(w["custom_metadata"]["owner"], "ops");
    assert_eq!(
        kv.get("m").await.data.unwrap()["metadata"]["custom_metadata"]["tier"],
        "1"
    );
    // A write replaces custom metadata; fields not given stay.
    kv.ok(
        Update,
        "metadata/m",
        json!({"custom_metadata": {"new": "y"}}),
    )
    .await;
    let m = kv.meta("m").await;
    assert_eq!(m["custom_metadata"], json!({"new": "y"}));
    assert_eq!(m["max_versions"], 5);
    // Patch merges custom metadata: null removes a key.
    kv.clock.advance(7);
    kv.ok(
        Patch,
        "metadata/m",
        json!({"custom_metadata": {"new": null, "other": "z"}, "cas_required": true}),
    )
    .await;
    let m = kv.meta("m").await;
    assert_eq!(m["custom_metadata"], json!({"other": "z"}));
    assert_eq!(m["cas_required"], true);
    assert_eq!(m["max_versions"], 5);
    assert_eq!(m["updated_time"], "2023-11-14T22:13:27Z");
    assert_eq!(
        status(
            kv.call(Patch, "metadata/absent", json!({"max_versions": 1}))
                .await
        ),
        404
    );
    assert_eq!(
        status(kv.call(Read, "metadata/absent", json!({})).await),
        404
    );

    // DELETE metadata removes every version and the metadata.
    kv.ok(
        Update,
        "data/m",
        json!({"data": {"a": 2}, "options": {"cas": 1}}),
    )
    .await;
    kv.ok(Update, "destroy/m", json!({"versions": [1]})).await;
    kv.put("other", json!({"x": 1})).await;
    let r = kv.ok(Delete, "metadata/m", json!({})).await;
    assert_eq!(r.status, 204);
    assert!(kv
        .keys()
        .iter()
        .all(|k| !k.contains("/m/") && !k.ends_with("/m")));
    assert_eq!(status(kv.call(Read, "metadata/m", json!({})).await), 404);
    assert_eq!(kv.get("other").await.status, 200);
    // Starting again begins at version 1.
    assert_eq!(kv.put("m", json!({"a": 1})).await["version"], 1);
}

#[tokio::test]
async fn exists_tells_create_from_update() {
    let kv = kv();
    let r = req(Create, "data/e", json!({}));
    assert!(!kv.kv.exists(&r).await.unwrap());
    assert!(!kv
        .kv
        .exists(&req(Create, "metadata/e", json!({})))
        .await
        .unwrap());
    kv.put("e", json!({"a": 1})).await;
    assert!(kv.kv.exists(&r).await.unwrap());
    kv.ok(Update, "metadata/only", json!({"max_versions": 2}))
        .await;
    assert!(kv
        .kv
        .exists(&req(Update, "data/only", json!({})))
        .await
        .unwrap());
    assert!(kv
        .kv
        .exists(&req(Update, "config", json!({})))
        .await
        .unwrap());
    assert!(kv
        .kv
        .exists(&req(Update, "data/../x", json!({})))
        .await
        .is_err());
}

#[tokio::test]
async fn list_folds_folders() {
    let kv = kv();
    for p in ["a", "b/c", "b/d", "e/f/g", "a/x"] {
        kv.put(p, json!({"v": 1})).await;
    }
    let keys = |r: Response| r.data.unwrap()["keys"].clone();
    assert_eq!(
        keys(kv.ok(List, "metadata/", json!({})).await),
        json!(["a", "a/", "b/", "e/"])
    );
    assert_eq!(
        keys(kv.ok(List, "metadata", json!({})).await),
        json!(["a", "a/", "b/", "e/"])
    );
    assert_eq!(
        keys(kv.ok(List, "metadata/b", json!({})).await),
        json!(["c", "d"])
    );
    assert_eq!(
        keys(kv.ok(List, "metadata/b/", json!({})).await),
        json!(["c", "d"])
    );
    assert_eq!(
        keys(kv.ok(List, "metadata/e", json!({})).await),
        json!(["f/"])
    );
    assert_eq!(status(kv.call(List, "metadata/zzz", json!({})).await), 404);
    assert_eq!(
        status(kv.call(List, "metadata/b/../a", json!({})).await),
        400
    );
    // Deleted metadata disappears from the list.
    kv.ok(Delete, "metadata/b/c", json!({})).await;
    assert_eq!(
        keys(kv.ok(List, "metadata/b", json!({})).await),
        json!(["d"])
    );
}

#[tokio::test]
async fn subkeys_replace_leaves_with_null() {
    let kv = kv();
    kv.put(
        "sk",
        json!({"a": "secret", "b": {"c": {"d": 1}, "x": [1]}, "e": {}}),
    )
    .await;
    let call = |depth: Option<&str>| {
        let mut r = req(Read, "subkeys/sk", json!({}));
        if let Some(d) = depth {
            r.query.insert("depth".into(), d.into());
        }
        let kv = kv.kv.clone();
        async move { kv.handle(&r).await.unwrap().data.unwrap() }
    };
    let all = call(None).await;
    assert_eq!(
        all["subkeys"],
        json!({"a": null, "b": {"c": {"d": null}, "x": null}, "e": null})
    );
    assert_eq!(all["metadata"]["version"], 1);
    assert!(!all.to_string().contains("secret"));
    assert_eq!(
        call(Some("1")).await["subkeys"],
        json!({"a": null, "b": null, "e": null})
    );
    assert_eq!(
        call(Some("2")).await["subkeys"],
        json!({"a": null, "b": {"c": null, "x": null}, "e": null})
    );
    kv.ok(Delete, "data/sk", json!({})).await;
    let r = kv
        .kv
        .handle(&req(Read, "subkeys/sk", json!({})))
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.data.unwrap()["subkeys"], Value::Null);
    assert_eq!(status(kv.call(Read, "subkeys/none", json!({})).await), 404);
}
