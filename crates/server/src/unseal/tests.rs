//! Tests of the unseal state machine and the sealed listener's answers.

use super::*;
use axum::http::Request as HttpRequest;

fn sealed_dir(n: u8, t: u8) -> (RootKey, SealFile, Vec<String>) {
    let root = RootKey::generate();
    let seal = SealFile::shamir(&root, n, t);
    let shares = shamir::split(root.expose_bytes(), n, t)
        .unwrap()
        .iter()
        .map(|s| encode_share(s))
        .collect();
    (root, seal, shares)
}

#[test]
fn threshold_shares_unseal_and_fewer_do_not() {
    let (root, seal, shares) = sealed_dir(5, 3);
    let mut u = Unsealer::new(seal);
    assert!(u.submit(&shares[4]).unwrap().is_none());
    assert_eq!(u.progress(), 1);
    let nonce = u.status()["nonce"].as_str().unwrap().to_string();
    assert_eq!(nonce.len(), 36);
    assert!(u.submit(&shares[1]).unwrap().is_none());
    assert_eq!(u.status()["progress"], 2);
    assert_eq!(u.status()["nonce"], nonce.as_str());
    let key = u.submit(&shares[2]).unwrap().expect("three shares unseal");
    assert_eq!(key.expose_bytes(), root.expose_bytes());
    assert_eq!(u.progress(), 0);
}

#[test]
fn hex_shares_are_accepted_and_a_repeated_share_counts_once() {
    let (root, seal, shares) = sealed_dir(3, 2);
    let mut u = Unsealer::new(seal);
    let hex_share = hex::encode(decode_share(&shares[0]).unwrap().as_slice());
    assert!(u.submit(&hex_share).unwrap().is_none());
    assert!(u.submit(&shares[0]).unwrap().is_none());
    assert_eq!(u.progress(), 1);
    let key = u.submit(&shares[2]).unwrap().unwrap();
    assert_eq!(key.expose_bytes(), root.expose_bytes());
}

#[test]
fn shares_of_another_key_reset_the_progress_with_a_clear_error() {
    let (_, seal, shares) = sealed_dir(5, 3);
    let (_, _, other) = sealed_dir(5, 3);
    let mut u = Unsealer::new(seal);
    u.submit(&shares[0]).unwrap();
    u.submit(&shares[1]).unwrap();
    let err = u.submit(&other[0]).unwrap_err();
    assert!(
        matches!(err, UnsealError::WrongShares { given: 3, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("progress was reset"), "{msg}");
    assert_eq!(u.progress(), 0);
    assert_eq!(u.status()["nonce"], "");
    // The right shares still work after the reset.
    u.submit(&shares[0]).unwrap();
    u.submit(&shares[3]).unwrap();
    assert!(u.submit(&shares[4]).unwrap().is_some());
}

#[test]
fn malformed_shares_are_refused_without_changing_progress() {
    let (_, seal, shares) = sealed_dir(5, 3);
    let mut u = Unsealer::new(seal);
    u.submit(&shares[0]).unwrap();
    assert!(matches!(
        u.submit("not a key!"),
        Err(UnsealError::KeyEncoding)
    ));
    assert!(matches!(
        u.submit("AAAA"),
        Err(UnsealError::KeyLength { len: 3 })
    ));
    assert_eq!(u.progress(), 1);
    // A share whose x coordinate is that of a share already given: a wrong rebuild.
    let mut same_x = decode_share(&shares[1]).unwrap().to_vec();
    same_x[KEY_LEN] = decode_share(&shares[0]).unwrap()[KEY_LEN];
    u.submit(&encode_share(&same_x)).unwrap();
    let err = u.submit(&shares[2]).unwrap_err();
    assert!(err.to_string().contains("same x coordinate"), "{err}");
    assert_eq!(u.progress(), 0);
}

#[test]
fn seal_file_round_trips_refuses_overwrite_and_rejects_bad_contents() {
    let dir = tempfile::tempdir().unwrap();
    let (root, seal, _) = sealed_dir(5, 3);
    assert!(SealFile::load(dir.path()).unwrap().is_none());
    seal.create(dir.path()).unwrap();
    let loaded = SealFile::load(dir.path()).unwrap().unwrap();
    assert_eq!(loaded, seal);
    assert!(loaded.matches(&root));
    assert!(!loaded.matches(&RootKey::generate()));
    let text = std::fs::read_to_string(SealFile::path(dir.path())).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["type"], "shamir");
    assert_eq!(v["shares"], 5);
    assert_eq!(v["threshold"], 3);
    assert!(!text.contains(&hex::encode(root.expose_bytes())));
    assert!(matches!(
        SealFile::File.create(dir.path()),
        Err(UnsealError::AlreadyInitialised { .. })
    ));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(SealFile::path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::write(
        SealFile::path(dir.path()),
        r#"{"type":"shamir","shares":3,"threshold":5,"check":"00"}"#,
    )
    .unwrap();
    let err = SealFile::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("seal.json") && err.contains("threshold 5"),
        "{err}"
    );
    std::fs::write(SealFile::path(dir.path()), r#"{"type":"hsm"}"#).unwrap();
    assert!(SealFile::load(dir.path()).is_err());
}

#[test]
fn destroying_a_key_file_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root.key");
    std::fs::write(&path, "secret").unwrap();
    destroy_key_file(&path).unwrap();
    assert!(!path.exists());
}

// -- the sealed listener ---------------------------------------------------------------------

fn shared(seal: SealFile) -> (Arc<Shared>, oneshot::Receiver<RootKey>) {
    let (key_tx, key_rx) = oneshot::channel();
    let s = Arc::new(Shared {
        unsealer: Mutex::new(Unsealer::new(seal.clone())),
        seal,
        key_tx: Mutex::new(Some(key_tx)),
        phase: watch::Sender::new(Phase::Sealed),
    });
    (s, key_rx)
}

async fn call(
    s: &Arc<Shared>,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let req = HttpRequest::builder()
        .method(method)
        .uri(uri)
        .header("X-Vault-Token", "hvs.something")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router(s.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, value)
}

#[tokio::test]
async fn a_sealed_listener_serves_only_the_unseal_api() {
    let (_, seal, _) = sealed_dir(5, 3);
    let (s, _rx) = shared(seal);
    for (method, path) in [
        ("GET", "/v1/secret/data/app"),
        ("LIST", "/v1/secret/metadata"),
        ("POST", "/v1/auth/approle/login"),
        ("GET", "/api/v1/health"),
        ("GET", "/"),
        ("GET", "/v1/sys/mounts"),
    ] {
        let (status, body) = call(&s, method, path, "").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{method} {path}");
        assert_eq!(body, serde_json::json!({"errors": ["Vault is sealed"]}));
    }
    let (status, body) = call(&s, "GET", "/v1/sys/seal-status", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sealed"], true);
    assert_eq!(body["type"], "shamir");
    assert_eq!((body["t"].as_u64(), body["n"].as_u64()), (Some(3), Some(5)));
    assert_eq!(body["progress"], 0);
    assert_eq!(body["initialized"], true);

    let (status, body) = call(&s, "GET", "/v1/sys/health", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["sealed"], true);
    let (status, _) = call(&s, "GET", "/v1/sys/health?sealedcode=200", "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&s, "GET", "/v1/sys/health?sealedcode=abc", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"][0].as_str().unwrap().contains("sealedcode"));

    let (status, _) = call(&s, "DELETE", "/v1/sys/seal-status", "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = call(&s, "GET", "/v1/sys/unseal", "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn unseal_requests_progress_reset_refuse_and_finally_hand_over() {
    let (root, seal, shares) = sealed_dir(5, 3);
    let (s, key_rx) = shared(seal);
    let put = |body: serde_json::Value| {
        let s = s.clone();
        async move { call(&s, "PUT", "/v1/sys/unseal", &body.to_string()).await }
    };
    let (status, body) = put(serde_json::json!({"key": shares[0]})).await;
    assert_eq!(
        (status, body["progress"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    let (status, body) = put(serde_json::json!({"reset": true})).await;
    assert_eq!(
        (status, body["progress"].as_u64()),
        (StatusCode::OK, Some(0))
    );
    let (status, body) = put(serde_json::json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"][0].as_str().unwrap().contains("`key`"));
    let (status, _) = call(&s, "PUT", "/v1/sys/unseal", "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = put(serde_json::json!({"key": "%%%"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"][0].as_str().unwrap().contains("base64"));

    put(serde_json::json!({"key": shares[1]})).await;
    let (_, body) = put(serde_json::json!({"key": shares[3]})).await;
    assert_eq!(body["progress"], 2);
    assert_eq!(body["sealed"], true);

    // The last share: the answer waits until the normal API is handed over.
    let last = tokio::spawn(put(serde_json::json!({"key": shares[4]})));
    let key = key_rx.await.expect("the rebuilt key reaches start-up");
    assert_eq!(key.expose_bytes(), root.expose_bytes());
    // Meanwhile other requests wait for start-up rather than being refused.
    let waiting = tokio::spawn({
        let s = s.clone();
        async move { call(&s, "GET", "/v1/secret/data/app", "").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!last.is_finished());
    let live = Router::new().fallback(|| async { (StatusCode::IM_A_TEAPOT, "{}") });
    let (stop, _stop_rx) = watch::channel(false);
    SealedApi {
        shared: s.clone(),
        stop,
    }
    .hand_over(live, std::future::pending());
    let (status, body) = last.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sealed"], false);
    assert_eq!(body["progress"], 0);
    assert_eq!(waiting.await.unwrap().0, StatusCode::IM_A_TEAPOT);
    // From now on everything goes to the normal API, the unseal paths too.
    let (status, _) = call(&s, "GET", "/v1/sys/seal-status", "").await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
}

#[tokio::test]
async fn a_failed_start_after_unsealing_is_reported() {
    let (_, seal, shares) = sealed_dir(3, 2);
    let (s, key_rx) = shared(seal);
    call(
        &s,
        "PUT",
        "/v1/sys/unseal",
        &serde_json::json!({"key": shares[0]}).to_string(),
    )
    .await;
    let last = tokio::spawn({
        let s = s.clone();
        let body = serde_json::json!({"key": shares[1]}).to_string();
        async move { call(&s, "POST", "/v1/sys/unseal", &body).await }
    });
    drop(key_rx.await.unwrap());
    s.phase
        .send_replace(Phase::Failed("start after unsealing failed: disk".into()));
    let (status, body) = last.await.unwrap();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body["errors"][0].as_str().unwrap().contains("disk"));
}

// -- opening a data directory sealed with key shares ------------------------------------------

#[test]
fn a_sealed_directory_opens_only_with_the_rebuilt_key() {
    use seawall_core::SystemClock;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = || Config {
        data_dir: Some(data.clone()),
        ..Config::default()
    };
    let state = Bootstrap::open(config(), Arc::new(SystemClock)).unwrap();
    let sealed = state.sealer.seal(b"payload", "t");
    drop(state);
    let root = RootKey::load(&root_key_path(&data)).unwrap();
    let shares = shamir::split(root.expose_bytes(), 3, 2).unwrap();
    SealFile::shamir(&root, 3, 2).create(&data).unwrap();
    destroy_key_file(&root_key_path(&data)).unwrap();
    assert!(is_shamir_sealed(&data));

    // Offline commands are told why the key is missing and what to do.
    let err = Bootstrap::open(config(), Arc::new(SystemClock))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("sealed") && err.contains("seawall operator unseal"),
        "{err}"
    );
    assert!(!root_key_path(&data).exists());

    let mut u = Unsealer::new(SealFile::load(&data).unwrap().unwrap());
    u.submit(&encode_share(&shares[2])).unwrap();
    let key = u.submit(&encode_share(&shares[0])).unwrap().unwrap();
    let state = Bootstrap::open_with_key(config(), Arc::new(SystemClock), key).unwrap();
    assert_eq!(
        state.sealer.open(&sealed, "t").unwrap().as_slice(),
        b"payload"
    );
    drop(state);
    let err = Bootstrap::open_with_key(config(), Arc::new(SystemClock), RootKey::generate())
        .err()
        .unwrap();
    assert!(err.to_string().contains("root key does not match"), "{err}");
}

#[tokio::test]
async fn two_last_shares_at_once_both_see_the_vault_unsealed() {
    let (_, seal, shares) = sealed_dir(3, 2);
    let (s, key_rx) = shared(seal);
    let body = |k: &String| serde_json::json!({ "key": k }).to_string();
    call(&s, "PUT", "/v1/sys/unseal", &body(&shares[0])).await;
    // The first of these rebuilds the key; the second arrives while start-up runs.
    let first = tokio::spawn({
        let (s, b) = (s.clone(), body(&shares[1]));
        async move { call(&s, "PUT", "/v1/sys/unseal", &b).await }
    });
    let root = key_rx.await.unwrap();
    let second = tokio::spawn({
        let (s, b) = (s.clone(), body(&shares[2]));
        async move { call(&s, "PUT", "/v1/sys/unseal", &b).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!second.is_finished());
    drop(root);
    let (stop, _stop_rx) = watch::channel(false);
    let live = Router::new().fallback(|| async {
        json(
            StatusCode::OK,
            &serde_json::json!({"sealed": false, "from": "live"}),
        )
    });
    SealedApi {
        shared: s.clone(),
        stop,
    }
    .hand_over(live, std::future::pending());
    let (status, body) = first.await.unwrap();
    assert_eq!(
        (status, body["sealed"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    let (status, body) = second.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["from"], "live");
}
