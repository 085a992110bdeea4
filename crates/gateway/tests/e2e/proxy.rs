//! Proxying: routing, identity headers, refusals and limits.

use super::common;

use base64::Engine;
use common::*;
use http::StatusCode;

fn url(h: &Harness, path: &str) -> String {
    format!("http://{}{path}", h.addr)
}

#[tokio::test]
async fn allowed_request_reaches_the_upstream_with_identity_headers() {
    let h = start().await;
    let token = h.token("alice", &["eng", "unrelated-1", "unrelated-2"], 0);
    let auth = format!("Bearer {token}");
    let r = send(
        &url(&h, "/hello?x=1"),
        &[("authorization", &auth)],
        "GET",
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let echo = r.json();
    let headers = &echo["headers"];
    assert!(echo["request"]
        .as_str()
        .unwrap()
        .starts_with("GET /hello?x=1"));
    assert_eq!(headers["x-forwarded-user"], "alice");
    // Only the groups the policies mention travel upstream.
    assert_eq!(headers["x-forwarded-groups"], "eng");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    // The bearer token is the gateway's credential, not the upstream's.
    assert!(headers.get("authorization").is_none());

    let assertion = headers["x-seawall-assertion"].as_str().unwrap();
    let jwks = send(&url(&h, "/.seawall/assertion-jwks.json"), &[], "GET", "")
        .await
        .json();
    let claims = verify_assertion(&jwks, assertion);
    assert_eq!(claims["aud"], "demo");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["groups"], serde_json::json!(["eng"]));
    assert_eq!(claims["iss"], url(&h, ""));
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 120);

    let recorded = h.decisions.0.lock().unwrap();
    let last = recorded.last().unwrap();
    assert_eq!(last.decision.verdict, seawall_gateway::Verdict::Allow);
    assert_eq!(last.decision.policies, vec!["eng-reads-demo".to_string()]);
    assert_eq!(last.decision.context.country, "GB");
    assert_eq!(last.decision.context.device_posture, "unknown");
}

fn verify_assertion(jwks: &serde_json::Value, jwt: &str) -> serde_json::Value {
    use ed25519_dalek::Verifier;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let x: [u8; 32] = b64
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
    let (signed, sig) = jwt.rsplit_once('.').unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&b64.decode(sig).unwrap()).unwrap();
    key.verify(signed.as_bytes(), &sig)
        .expect("assertion signature verifies");
    let payload = signed.split('.').nth(1).unwrap();
    serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn client_sent_identity_headers_never_reach_the_upstream() {
    let h = start().await;
    let auth = format!("Bearer {}", h.token("alice", &["eng"], 0));
    let r = send(
        &url(&h, "/"),
        &[
            ("authorization", &auth),
            ("x-forwarded-user", "root"),
            ("x-forwarded-groups", "admins"),
            ("x-seawall-assertion", "forged.jwt.value"),
            ("forwarded", "for=6.6.6.6"),
            ("x-seawall-device-posture", "forged"),
            ("cookie", "theme=dark; seawall_session=must-not-leak"),
        ],
        "GET",
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let headers = &r.json()["headers"];
    assert_eq!(headers["x-forwarded-user"], "alice");
    assert_eq!(headers["x-forwarded-groups"], "eng");
    assert_ne!(headers["x-seawall-assertion"], "forged.jwt.value");
    assert!(headers.get("forwarded").is_none());
    assert!(headers.get("x-seawall-device-posture").is_none());
    assert_eq!(headers["cookie"], "theme=dark");
}

#[tokio::test]
async fn api_client_without_credentials_gets_401_and_browser_is_sent_to_sign_in() {
    let h = start().await;
    let api = send(&url(&h, "/a"), &[("accept", "application/json")], "GET", "").await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.header("www-authenticate"), "Bearer");

    let browser = send(
        &url(&h, "/app/page?q=1"),
        &[("accept", "text/html")],
        "GET",
        "",
    )
    .await;
    assert_eq!(browser.status, StatusCode::FOUND);
    assert_eq!(
        browser.header("location"),
        "/.seawall/sign-in?rd=%2Fapp%2Fpage%3Fq%3D1"
    );

    // A browser's POST is not a navigation to come back to: it gets the status code.
    let post = send(&url(&h, "/a"), &[("accept", "text/html")], "POST", "x").await;
    assert_eq!(post.status, StatusCode::UNAUTHORIZED);
    assert!(h.access_log().await.is_empty());
}

#[tokio::test]
async fn garbage_tokens_and_malformed_cookies_get_401_never_500() {
    let h = start().await;
    let cases: &[(&str, &str)] = &[
        ("authorization", "Bearer not-a-token"),
        ("authorization", "Bearer eyJhbGciOiJub25lIn0.e30."),
        ("authorization", "Bearer \u{7f}"),
        ("cookie", "seawall_session=garbage"),
        ("cookie", "seawall_session="),
        ("cookie", ";;;==;seawall_session"),
        ("cookie", "seawall_session=\"unterminated"),
    ];
    for (name, value) in cases {
        let Ok(v) = http::HeaderValue::from_str(value) else {
            continue;
        };
        let v = v.to_str().unwrap_or("x").to_string();
        let r = send(&url(&h, "/"), &[(name, &v)], "GET", "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}: {value}");
    }
    let expired = mint(&Claims {
        user: "alice",
        groups: &["eng"],
        mfa_age: 0,
        expires_in: -120,
        session: false,
        sid: "ses_x",
    });
    // A session token is no access token, and an access token no session.
    let session = session_token("alice", &["eng"], 0);
    let r = send(
        &url(&h, "/"),
        &[("authorization", &format!("Bearer {session}"))],
        "GET",
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let access = h.token("alice", &["eng"], 0);
    let cookie = format!("seawall_session={access}");
    let r = send(&url(&h, "/"), &[("cookie", &cookie)], "GET", "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // One flipped character in the signature.
    let mut tampered = h.token("alice", &["eng"], 0);
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let r = send(
        &url(&h, "/"),
        &[("authorization", &format!("Bearer {tampered}"))],
        "GET",
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(
        &url(&h, "/"),
        &[("authorization", &format!("Bearer {expired}"))],
        "GET",
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header("www-authenticate").contains("invalid_token"));
    assert!(h.access_log().await.is_empty());
}

#[tokio::test]
async fn denied_request_gets_403_with_reason_and_never_reaches_the_upstream() {
    let h = start().await;
    let outsider = format!("Bearer {}", h.token("mallory", &["contractors"], 0));
    let r = send(
        &url(&h, "/private"),
        &[("authorization", &outsider)],
        "GET",
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.text().trim(), "denied: no_permit");

    let admin = format!("Bearer {}", h.token("root", &["admins"], 0));
    let r = send(&url(&h, "/x"), &[("authorization", &admin)], "DELETE", "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.text().trim(), "denied: no_delete");

    assert!(
        h.access_log().await.is_empty(),
        "a denied request reached the upstream"
    );
    let recorded = h.decisions.0.lock().unwrap();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[1].decision.policies, vec!["no-delete".to_string()]);
    assert_eq!(recorded[1].method, "DELETE");
}

#[tokio::test]
async fn stale_mfa_asks_api_clients_and_browsers_to_step_up() {
    let h = start().await;
    let stale = format!("Bearer {}", h.token("alice", &["eng"], 3600));
    let api = send(
        &url(&h, "/secure/x"),
        &[("authorization", &stale)],
        "GET",
        "",
    )
    .await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert!(api
        .header("www-authenticate")
        .contains("error=\"insufficient_user_authentication\""));
    let browser = send(
        &url(&h, "/secure/x"),
        &[("authorization", &stale), ("accept", "text/html")],
        "GET",
        "",
    )
    .await;
    assert_eq!(browser.status, StatusCode::FOUND);
    assert_eq!(
        browser.header("location"),
        "/.seawall/verify?rd=%2Fsecure%2Fx"
    );
    let fresh = format!("Bearer {}", h.token("alice", &["eng"], 10));
    let ok = send(
        &url(&h, "/secure/x"),
        &[("authorization", &fresh)],
        "GET",
        "",
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_route_is_404_and_unreachable_upstream_is_502() {
    let h = start().await;
    h.gateway
        .set_routes(&[seawall_core::config::RouteConfig {
            name: "only-app".into(),
            host: Some("app.example".into()),
            path_prefix: "/".into(),
            upstream: format!("http://{}", h.upstream),
            upstream_ca: None,
            strip_prefix: false,
        }])
        .unwrap();
    let auth = format!("Bearer {}", h.token("root", &["admins"], 0));
    let r = send(&url(&h, "/"), &[("authorization", &auth)], "GET", "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(
        &url(&h, "/"),
        &[("authorization", &auth), ("host", "APP.example:80")],
        "GET",
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    h.gateway.set_routes(&routes(h.upstream)).unwrap();
    let r = send(&url(&h, "/down/x"), &[("authorization", &auth)], "GET", "").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn dot_segments_that_could_escape_a_route_are_refused() {
    let h = start().await;
    let auth = format!("Bearer {}", h.token("root", &["admins"], 0));
    for path in ["/public/../secure", "/public/%2e%2e/secure", "/a%2Fb"] {
        let r = send(&url(&h, path), &[("authorization", &auth)], "GET", "").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
    }
}

#[tokio::test]
async fn oversized_header_block_gets_431() {
    let h = start().await;
    let big = "a".repeat(20 * 1024);
    let r = send(&url(&h, "/"), &[("x-big", &big)], "GET", "").await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // Just under the hyper buffer but over the configured limit in total.
    let parts: Vec<String> = (0..4).map(|_| "b".repeat(4100)).collect();
    let headers: Vec<(&str, &str)> = ["x-1", "x-2", "x-3", "x-4"]
        .iter()
        .zip(&parts)
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let r = send(&url(&h, "/"), &headers, "GET", "").await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_decisions_by_reason() {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = seawall_gateway::GatewayMetrics::register(&mut registry);
    let h = start_with(Options {
        metrics: Some(metrics),
        ..Options::default()
    })
    .await;
    let eng = format!("Bearer {}", h.token("alice", &["eng"], 0));
    let outsider = format!("Bearer {}", h.token("mallory", &[], 0));
    send(&url(&h, "/"), &[("authorization", &eng)], "GET", "").await;
    send(&url(&h, "/"), &[("authorization", &outsider)], "GET", "").await;
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("seawall_gateway_requests_total{route=\"demo\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("seawall_gateway_requests_total{route=\"demo\",status=\"403\"} 1"));
    assert!(text.contains("outcome=\"deny\",reason=\"no_permit\"} 1"));
    assert!(text.contains("outcome=\"allow\",reason=\"allowed\"} 1"));
    assert!(text.contains("seawall_gateway_upstream_latency_seconds_count{route=\"demo\"} 1"));
}

#[tokio::test]
async fn https_upstream_is_reached_with_its_configured_ca_and_refused_without() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let h = start().await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), cert.cert.pem()).unwrap();
    let tls = seawall_gateway::tls::server_config_from(
        vec![cert.cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into()),
        None,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let user = req.headers().get("x-forwarded-user").cloned();
                        let body = format!("tls upstream saw {:?}", user);
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from(body)),
                        ))
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let route = |ca: Option<std::path::PathBuf>| seawall_core::config::RouteConfig {
        name: "demo".into(),
        host: None,
        path_prefix: "/".into(),
        upstream: format!("https://localhost:{port}"),
        upstream_ca: ca,
        strip_prefix: false,
    };
    let auth = format!("Bearer {}", h.token("alice", &["eng"], 0));

    h.gateway
        .set_routes(&[route(Some(ca_file.path().to_path_buf()))])
        .unwrap();
    let r = send(&url(&h, "/"), &[("authorization", &auth)], "GET", "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "tls upstream saw Some(\"alice\")");

    // With the system roots the self-signed upstream is not trusted.
    h.gateway.set_routes(&[route(None)]).unwrap();
    let r = send(&url(&h, "/"), &[("authorization", &auth)], "GET", "").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = start().await;
    let mut tcp = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        seawall_gateway::HEADER_READ_TIMEOUT + std::time::Duration::from_secs(5),
        tcp.read_to_end(&mut buf),
    )
    .await;
    assert!(
        read.is_ok(),
        "the connection was still open after the header timeout"
    );
    assert!(
        started.elapsed()
            >= seawall_gateway::HEADER_READ_TIMEOUT - std::time::Duration::from_secs(1)
    );
    assert!(h.access_log().await.is_empty());
}

#[tokio::test]
async fn serve_returns_after_shutdown_and_stops_listening() {
    let h = start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(h.gateway.clone().serve(listener, None, async {
        let _ = stopped.await;
    }));
    let auth = format!("Bearer {}", h.token("alice", &["eng"], 0));
    let r = send(
        &format!("http://{addr}/"),
        &[("authorization", &auth)],
        "GET",
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    stop.send(()).unwrap();
    let done = tokio::time::timeout(std::time::Duration::from_secs(12), served).await;
    assert!(
        matches!(done, Ok(Ok(Ok(())))),
        "serve did not return after shutdown"
    );
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
