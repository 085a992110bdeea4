//! Tests of the KV engine's settings and of what it refuses: malformed bodies, parameters
//! and paths, and methods a path does not support. A refused request changes nothing.

use super::tests::{kv, mount, req, status};
use super::*;
use crate::request::Operation::{self, *};
use serde_json::{json, Value};
use std::sync::Arc;

#[tokio::test]
async fn config_read_write_and_reload() {
    let kv = kv();
    let c = kv.ok(Read, "config", json!({})).await.data.unwrap();
    assert_eq!(
        c,
        json!({"max_versions": 0, "cas_required": false, "delete_version_after": "0s"})
    );
    let r = kv
        .ok(
            Update,
            "config",
            json!({"max_versions": "4", "cas_required": "true", "delete_version_after": "3h25m19s", "bogus": 1}),
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(r.warnings[0].contains("bogus"));
    let c = kv.ok(Read, "config", json!({})).await.data.unwrap();
    assert_eq!(
        c,
        json!({"max_versions": 4, "cas_required": true, "delete_version_after": "3h25m19s"})
    );
    // Only given fields change.
    kv.ok(Update, "config", json!({"max_versions": 7})).await;
    // A new engine over the same storage sees the stored settings.
    let again = KvBackend::new(&mount(), kv.barrier.clone(), Arc::new(kv.clock.clone()));
    let c = again
        .handle(&req(Read, "config", json!({})))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(c["max_versions"], 7);
    assert_eq!(c["cas_required"], true);
    assert_eq!(c["delete_version_after"], "3h25m19s");
}

#[tokio::test]
async fn malformed_requests_are_refused_and_change_nothing() {
    let kv = kv();
    kv.put("good", json!({"a": 1})).await;
    kv.ok(Update, "config", json!({"max_versions": 3})).await;
    let before = kv.snapshot();

    let bad: Vec<(Operation, &str, Value, &str)> = vec![
        (Create, "data/good", json!({"data": "hunter2"}), "`data`"),
        (Create, "data/good", json!({"data": ["hunter2"]}), "`data`"),
        (Create, "data/good", json!({"data": 5}), "`data`"),
        (Create, "data/good", json!({}), "`data`"),
        (Create, "data/good", json!({"dta": {"a": 1}}), "`data`"),
        (Patch, "data/good", json!({"data": "x"}), "`data`"),
        (
            Create,
            "data/good",
            json!({"data": {}, "options": {"cas": "x"}}),
            "options.cas",
        ),
        (
            Create,
            "data/good",
            json!({"data": {}, "options": {"cas": -1}}),
            "options.cas",
        ),
        (
            Create,
            "data/good",
            json!({"data": {}, "options": {"cas": true}}),
            "options.cas",
        ),
        (
            Create,
            "data/good",
            json!({"data": {}, "options": {"cas": 1.5}}),
            "options.cas",
        ),
        (
            Create,
            "data/good",
            json!({"data": {}, "options": 1}),
            "`options`",
        ),
        (Create, "data/a/../good", json!({"data": {}}), ".."),
        (Create, "data/./good", json!({"data": {}}), ".."),
        (Create, "data/a//b", json!({"data": {}}), "empty segment"),
        (Create, "data//a", json!({"data": {}}), "empty segment"),
        (Create, "data/a/", json!({"data": {}}), "empty segment"),
        (Create, "data/", json!({"data": {}}), "empty"),
        (Create, "data/a\nb", json!({"data": {}}), "control"),
        (
            Create,
            "metadata/good",
            json!({"max_versions": -1}),
            "max_versions",
        ),
        (
            Create,
            "metadata/good",
            json!({"max_versions": "ten"}),
            "max_versions",
        ),
        (
            Create,
            "metadata/good",
            json!({"cas_required": "maybe"}),
            "cas_required",
        ),
        (
            Create,
            "metadata/good",
            json!({"delete_version_after": "-1h"}),
            "negative",
        ),
        (
            Create,
            "metadata/good",
            json!({"delete_version_after": "soon"}),
            "delete_version_after",
        ),
        (
            Create,
            "metadata/good",
            json!({"delete_version_after": "1h30"}),
            "delete_version_after",
        ),
        (
            Create,
            "metadata/good",
            json!({"custom_metadata": {"k": 1}}),
            "custom_metadata.k",
        ),
        (
            Create,
            "metadata/good",
            json!({"custom_metadata": "x"}),
            "custom_metadata",
        ),
        (
            Create,
            "metadata/good",
            json!({"custom_metadata": {"": "x"}}),
            "empty key",
        ),
        (
            Patch,
            "metadata/good",
            json!({"custom_metadata": {"k": 2}}),
            "custom_metadata.k",
        ),
        (
            Patch,
            "metadata/good",
            json!({"max_versions": true}),
            "max_versions",
        ),
        (
            Update,
            "config",
            json!({"max_versions": 1.5}),
            "max_versions",
        ),
        (
            Update,
            "config",
            json!({"delete_version_after": -5}),
            "negative",
        ),
        (Update, "delete/good", json!({}), "versions"),
        (Update, "delete/good", json!({"versions": []}), "versions"),
        (
            Update,
            "undelete/good",
            json!({"versions": ["x"]}),
            "versions",
        ),
        (
            Update,
            "destroy/good",
            json!({"versions": "1,a"}),
            "versions",
        ),
        (
            Update,
            "destroy/good",
            json!({"versions": {"1": true}}),
            "versions",
        ),
        (Update, "destroy/../good", json!({"versions": [1]}), ".."),
    ];
    for (op, rel, body, needle) in bad {
        let e = kv.call(op, rel, body.clone()).await.unwrap_err();
        assert_eq!(e.status(), 400, "{rel} {body}: {e}");
        let msg = e.to_string();
        assert!(
            msg.contains(needle),
            "{rel} {body}: `{msg}` lacks `{needle}`"
        );
        assert!(
            !msg.contains("hunter2"),
            "error echoes a secret value: {msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");
        assert_eq!(kv.snapshot(), before, "{rel} {body} changed storage");
    }

    // Too many custom metadata keys, too long a path or segment.
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    let e = kv
        .call(Create, "metadata/good", json!({ "custom_metadata": many }))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("65 keys"), "{e}");
    let long_seg = format!("data/{}", "s".repeat(256));
    assert_eq!(
        status(kv.call(Create, &long_seg, json!({"data": {}})).await),
        400
    );
    let long_path = format!("data/{}", ["p"; 600].join("/"));
    let e = kv
        .call(Create, &long_path, json!({"data": {}}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("1024"), "{e}");
    assert_eq!(kv.snapshot(), before);

    // Bad version and depth parameters on reads.
    for v in ["abc", "-1", "1.5", "99999999999999999999999"] {
        let e = kv.get_version("good", Some(v)).await.unwrap_err();
        assert_eq!(e.status(), 400, "version={v}");
        assert!(e.to_string().contains("`version`"), "{e}");
    }
    let mut r = req(Read, "subkeys/good", json!({}));
    r.query.insert("depth".into(), "deep".into());
    let e = kv.kv.handle(&r).await.unwrap_err();
    assert!(e.to_string().contains("`depth`"), "{e}");
}

#[tokio::test]
async fn unsupported_methods_and_paths() {
    let kv = kv();
    assert_eq!(status(kv.call(Delete, "config", json!({})).await), 405);
    assert_eq!(status(kv.call(List, "data/x", json!({})).await), 405);
    assert_eq!(status(kv.call(Read, "delete/x", json!({})).await), 405);
    assert_eq!(status(kv.call(Create, "subkeys/x", json!({})).await), 405);
    assert_eq!(status(kv.call(Read, "nope/x", json!({})).await), 404);
    assert_eq!(status(kv.call(Read, "", json!({})).await), 404);
    assert_eq!(status(kv.call(Read, "config/extra", json!({})).await), 404);
    assert!(kv.keys().is_empty());
}

#[tokio::test]
async fn unknown_fields_are_warned_about_not_stored() {
    let kv = kv();
    let r = kv
        .ok(Create, "data/w", json!({"data": {"a": 1}, "extra": "x"}))
        .await;
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].contains("extra"));
    assert_eq!(kv.get("w").await.data.unwrap()["data"], json!({"a": 1}));
}
