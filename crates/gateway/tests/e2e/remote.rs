//! `seawall proxy`'s link to the control plane: the sync client applies keys, revocations and
//! policies to the identity crate's real `Verifier` and the gateway's authorizer, and
//! `RemoteSignIn` speaks the `/api/v1/auth/*` protocol. The control plane here is a small
//! HTTP server in the test answering with the documented JSON shapes.

use super::common::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use bytes::Bytes;
use ed25519_dalek::Signer;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use seawall_core::auth::{ClientInfo, PasswordRequest, SecretString, SignInBackend, SignInStep};
use seawall_core::{Clock, SystemClock};
use seawall_gateway::RemoteSignIn;
use seawall_identity::Verifier;
use std::sync::{Arc, Mutex};

const ISSUER: &str = "https://cp.test";

/// What the test control plane answers to each path (prefix match), with a status.
type Answers = Arc<Mutex<Vec<(String, u16, String)>>>;

async fn control_plane(answers: Answers) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let answers = answers.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let answers = answers.clone();
                    async move {
                        let path = req.uri().to_string();
                        let found = answers
                            .lock()
                            .unwrap()
                            .iter()
                            .find(|(p, _, _)| path.starts_with(p.as_str()))
                            .cloned();
                        let (status, body) = found.map_or((404, String::new()), |(_, s, b)| (s, b));
                        let mut r = Response::new(Full::new(Bytes::from(body)));
                        *r.status_mut() = StatusCode::from_u16(status).unwrap();
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

fn signing_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[9; 32])
}

fn jwks() -> serde_json::Value {
    serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "EdDSA",
        "x": B64.encode(signing_key().verifying_key().as_bytes())}]})
}

fn access_token(sid: &str) -> String {
    let now = SystemClock.now();
    let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"});
    let claims = serde_json::json!({"iss": ISSUER, "sub": "usr_alice", "aud": "seawall",
        "iat": now, "exp": now + 300, "jti": format!("jti-{sid}"), "preferred_username": "alice",
        "groups": ["eng"], "amr": ["pwd", "otp"], "auth_time": now, "mfa_time": now, "sid": sid});
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = signing_key().sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig.to_bytes()))
}

fn sync_doc(version: i64, revoked_sessions: &[&str], policies: Option<(u64, &str)>) -> String {
    let now = SystemClock.now();
    let entries: Vec<serde_json::Value> = revoked_sessions
        .iter()
        .map(|s| {
            serde_json::json!({"version": version, "kind": "session", "subject": s,
            "revoked_at": now, "expires_at": now + 600})
        })
        .collect();
    let mut doc = serde_json::json!({
        "version": version,
        "jwks": jwks(),
        "revocations": {"from_version": 0, "version": version, "entries": entries},
        "policy_version": policies.map_or(0, |p| p.0),
    });
    if let Some((_, text)) = policies {
        doc["policies"] = serde_json::json!([["synced.cedar", text]]);
    }
    doc.to_string()
}

#[tokio::test]
async fn sync_brings_keys_revocations_and_policies_to_the_gateway() {
    let h = start().await;
    let verifier = Arc::new(Verifier::new(ISSUER, "seawall"));
    h.gateway
        .set_authenticator(Arc::new(Tokens(verifier.clone())));
    let token = format!("Bearer {}", access_token("ses_a"));

    // Before the first sync the verifier knows no key: refused.
    let r = send(
        &format!("http://{}/x", h.addr),
        &[("authorization", &token)],
        "GET",
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let answers: Answers = Arc::new(Mutex::new(vec![(
        "/api/v1/gateway/sync".into(),
        200,
        sync_doc(1, &[], Some((1, POLICIES))),
    )]));
    let cp = control_plane(answers.clone()).await;
    let task = seawall_gateway::spawn_sync(
        &format!("http://{cp}"),
        None,
        verifier.clone(),
        h.authorizer.clone(),
        std::time::Duration::from_millis(200),
    )
    .unwrap();
    let ok = wait_for_status(&h, &token, StatusCode::OK).await;
    assert!(ok, "keys from the control plane were not applied");

    // A revoked session stops working within a second.
    answers.lock().unwrap()[0].2 = sync_doc(2, &["ses_a"], None);
    let started = std::time::Instant::now();
    assert!(wait_for_status(&h, &token, StatusCode::UNAUTHORIZED).await);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // A broken policy set from the control plane is refused; a good one replaces the old.
    let other = format!("Bearer {}", access_token("ses_b"));
    answers.lock().unwrap()[0].2 = sync_doc(2, &[], Some((2, "permit (principal, action")));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = send(
        &format!("http://{}/x", h.addr),
        &[("authorization", &other)],
        "GET",
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    answers.lock().unwrap()[0].2 =
        sync_doc(2, &[], Some((3, "forbid (principal, action, resource);")));
    assert!(wait_for_status(&h, &other, StatusCode::FORBIDDEN).await);
    task.abort();
}

async fn wait_for_status(h: &Harness, auth: &str, want: StatusCode) -> bool {
    for _ in 0..100 {
        let r = send(
            &format!("http://{}/x", h.addr),
            &[("authorization", auth)],
            "GET",
            "",
        )
        .await;
        if r.status == want {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn remote_sign_in_speaks_the_auth_api_and_maps_its_errors() {
    let answers: Answers = Arc::new(Mutex::new(vec![
        (
            "/api/v1/auth/password".into(),
            200,
            r#"{"step":"second_factor","pending":"p-1","factors":["totp"]}"#.into(),
        ),
        (
            "/api/v1/auth/factor".into(),
            429,
            r#"{"error":"throttled","message":"too many","retry_after":9}"#.into(),
        ),
    ]));
    let cp = control_plane(answers).await;
    let remote = RemoteSignIn::new(&format!("http://{cp}/"), None).unwrap();
    let client = ClientInfo {
        ip: "203.0.113.7".parse().unwrap(),
        user_agent: None,
    };
    let step = remote
        .password(
            PasswordRequest {
                username: "alice".into(),
                password: SecretString::new("pw"),
            },
            &client,
        )
        .await
        .unwrap();
    let SignInStep::SecondFactor { pending, .. } = step else {
        panic!("expected the second-factor step");
    };
    assert_eq!(pending.expose(), "p-1");
    let err = remote
        .second_factor(
            seawall_core::auth::FactorRequest {
                pending,
                kind: seawall_core::auth::FactorKind::Totp,
                code: SecretString::new("000000"),
            },
            &client,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        seawall_core::auth::AuthError::Throttled { retry_after: 9 }
    );

    let down = RemoteSignIn::new("http://127.0.0.1:9", None).unwrap();
    let err = down
        .password(
            PasswordRequest {
                username: "alice".into(),
                password: SecretString::new("pw"),
            },
            &client,
        )
        .await
        .unwrap_err();
    assert_eq!(err, seawall_core::auth::AuthError::Unavailable);
}
