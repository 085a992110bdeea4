//! Sign-in pages, forward-auth, WebSocket, HTTP/2 over TLS and policy reload, end to end.

use super::common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use std::sync::Arc;

fn url(h: &Harness, path: &str) -> String {
    format!("http://{}{path}", h.addr)
}

/// The value of `name` in a `Set-Cookie` header of `r`.
fn set_cookie(r: &Reply, name: &str) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap().to_string())
        })
}

fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn browser_signs_in_with_password_and_code_and_lands_where_it_started() {
    let h = start().await;
    let first = send(
        &url(&h, "/app/page?q=1"),
        &[("accept", "text/html")],
        "GET",
        "",
    )
    .await;
    let location = first.header("location").to_string();
    assert!(location.starts_with("/.seawall/sign-in?rd="));

    let page = send(&url(&h, &location), &[("accept", "text/html")], "GET", "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .header("content-security-policy")
        .contains("default-src 'none'"));
    let csrf = set_cookie(&page, "seawall_csrf").unwrap();
    let html = page.text();
    assert_eq!(hidden_field(&html, "csrf"), csrf);
    assert_eq!(hidden_field(&html, "rd"), "/app/page?q=1");

    let cookie = format!("seawall_csrf={csrf}");
    let form = |extra: &str| format!("csrf={csrf}&rd=%2Fapp%2Fpage%3Fq%3D1&{extra}");
    let wrong = send(
        &url(&h, "/.seawall/sign-in"),
        &[
            ("cookie", &cookie),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "POST",
        &form("username=bob&password=nope"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text().contains("the user name or password is wrong"));

    let step = send(
        &url(&h, "/.seawall/sign-in"),
        &[("cookie", &cookie)],
        "POST",
        &form("username=alice&password=correct+horse"),
    )
    .await;
    assert_eq!(step.status, StatusCode::OK, "{}", step.text());
    assert!(step.text().contains("action=\"/.seawall/factor\""));
    let pending = set_cookie(&step, "seawall_pending").unwrap();
    assert!(
        !step.text().contains(&pending),
        "the pending proof must stay out of the page"
    );

    let cookie = format!("seawall_csrf={csrf}; seawall_pending={pending}");
    let done = send(
        &url(&h, "/.seawall/factor"),
        &[("cookie", &cookie)],
        "POST",
        &form("kind=totp&code=123456"),
    )
    .await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.text());
    assert_eq!(done.header("location"), "/app/page?q=1");
    let set = done
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("seawall_session="))
        .unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"));
    let session = set_cookie(&done, "seawall_session").unwrap();

    let session_cookie = format!("seawall_session={session}");
    let app = send(
        &url(&h, "/app/page?q=1"),
        &[("cookie", &session_cookie), ("accept", "application/json")],
        "GET",
        "",
    )
    .await;
    assert_eq!(app.status, StatusCode::OK);
    let echo = app.json();
    assert_eq!(echo["headers"]["x-forwarded-user"], "alice");
    assert!(
        echo["headers"].get("cookie").is_none(),
        "the session cookie leaked upstream"
    );
}

#[tokio::test]
async fn form_posts_without_the_csrf_token_or_from_another_origin_are_refused() {
    let h = start().await;
    let page = send(&url(&h, "/.seawall/sign-in"), &[], "GET", "").await;
    let csrf = set_cookie(&page, "seawall_csrf").unwrap();
    let body = "username=alice&password=correct+horse&rd=%2F";
    let no_cookie = send(
        &url(&h, "/.seawall/sign-in"),
        &[],
        "POST",
        &format!("csrf={csrf}&{body}"),
    )
    .await;
    assert_eq!(no_cookie.status, StatusCode::FORBIDDEN);
    let cookie = format!("seawall_csrf={csrf}");
    let mismatch = send(
        &url(&h, "/.seawall/sign-in"),
        &[("cookie", &cookie)],
        "POST",
        &format!("csrf=other&{body}"),
    )
    .await;
    assert_eq!(mismatch.status, StatusCode::FORBIDDEN);
    let cross = send(
        &url(&h, "/.seawall/sign-in"),
        &[("cookie", &cookie), ("origin", "https://evil.example")],
        "POST",
        &format!("csrf={csrf}&{body}"),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert_eq!(cross.text().trim(), "denied: cross_origin_form");
}

#[tokio::test]
async fn sign_in_never_redirects_off_site() {
    let h = start().await;
    let page = send(&url(&h, "/.seawall/sign-in"), &[], "GET", "").await;
    let csrf = set_cookie(&page, "seawall_csrf").unwrap();
    for evil in [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "/%2F%2Fevil.example",
    ] {
        let shown = send(
            &url(&h, &format!("/.seawall/sign-in?rd={}", urlencode(evil))),
            &[],
            "GET",
            "",
        )
        .await;
        assert_eq!(hidden_field(&shown.text(), "rd"), "/", "{evil}");

        let cookie = format!("seawall_csrf={csrf}");
        let step = send(
            &url(&h, "/.seawall/sign-in"),
            &[("cookie", &cookie)],
            "POST",
            &format!(
                "csrf={csrf}&rd={}&username=alice&password=correct+horse",
                urlencode(evil)
            ),
        )
        .await;
        let pending = set_cookie(&step, "seawall_pending").unwrap();
        let cookie = format!("seawall_csrf={csrf}; seawall_pending={pending}");
        let done = send(
            &url(&h, "/.seawall/factor"),
            &[("cookie", &cookie)],
            "POST",
            &format!("csrf={csrf}&rd={}&code=123456", urlencode(evil)),
        )
        .await;
        assert_eq!(done.status, StatusCode::FOUND);
        assert_eq!(done.header("location"), "/", "{evil}");
    }
}

fn urlencode(s: &str) -> String {
    seawall_gateway::redirect::encode_query_value(s)
}

#[tokio::test]
async fn step_up_replaces_the_session_cookie_and_sign_out_ends_it() {
    let h = start().await;
    let old = session_token("alice", &["eng"], 3600);
    let session_cookie = format!("seawall_session={old}");
    let r = send(
        &url(&h, "/secure/doc"),
        &[("cookie", &session_cookie), ("accept", "text/html")],
        "GET",
        "",
    )
    .await;
    assert_eq!(r.header("location"), "/.seawall/verify?rd=%2Fsecure%2Fdoc");

    let page = send(
        &url(&h, r.header("location")),
        &[("cookie", &session_cookie)],
        "GET",
        "",
    )
    .await;
    let csrf = set_cookie(&page, "seawall_csrf").unwrap();
    let cookie = format!("seawall_csrf={csrf}; {session_cookie}");
    let done = send(
        &url(&h, "/.seawall/verify"),
        &[("cookie", &cookie)],
        "POST",
        &format!("csrf={csrf}&rd=%2Fsecure%2Fdoc&kind=totp&code=123456"),
    )
    .await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.text());
    assert_eq!(done.header("location"), "/secure/doc");
    let fresh = set_cookie(&done, "seawall_session").unwrap();
    assert_ne!(fresh, old);
    let fresh_cookie = format!("seawall_session={fresh}");
    let ok = send(
        &url(&h, "/secure/doc"),
        &[("cookie", &fresh_cookie)],
        "GET",
        "",
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);

    let cookie = format!("seawall_csrf={csrf}; {fresh_cookie}");
    let out = send(
        &url(&h, "/.seawall/sign-out"),
        &[("cookie", &cookie)],
        "POST",
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(out.status, StatusCode::FOUND);
    assert_eq!(set_cookie(&out, "seawall_session").as_deref(), Some(""));
    let after = send(
        &url(&h, "/secure/doc"),
        &[("cookie", &fresh_cookie)],
        "GET",
        "",
    )
    .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forward_auth_allows_and_denies_with_identity_headers() {
    let h = start().await;
    let eng = format!("Bearer {}", h.token("alice", &["eng"], 0));
    let allow = send(
        &url(&h, "/.seawall/auth"),
        &[
            ("authorization", &eng),
            ("x-original-method", "GET"),
            ("x-original-uri", "/reports?x=1"),
        ],
        "GET",
        "",
    )
    .await;
    assert_eq!(allow.status, StatusCode::OK, "{}", allow.text());
    assert_eq!(allow.header("x-forwarded-user"), "alice");
    assert_eq!(allow.header("x-forwarded-groups"), "eng");
    assert!(allow.header("x-seawall-assertion").split('.').count() == 3);

    let deny = send(
        &url(&h, "/.seawall/auth"),
        &[
            ("authorization", &eng),
            ("x-forwarded-method", "POST"),
            ("x-forwarded-uri", "/reports"),
        ],
        "GET",
        "",
    )
    .await;
    assert_eq!(deny.status, StatusCode::FORBIDDEN);
    assert_eq!(deny.text().trim(), "denied: no_permit");

    let anonymous = send(
        &url(&h, "/.seawall/auth"),
        &[("x-original-uri", "/")],
        "GET",
        "",
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let redirect = send(
        &url(&h, "/.seawall/auth?redirect=true"),
        &[("x-forwarded-uri", "/deep/link"), ("accept", "text/html")],
        "GET",
        "",
    )
    .await;
    assert_eq!(redirect.status, StatusCode::FOUND);
    assert_eq!(
        redirect.header("location"),
        "/.seawall/sign-in?rd=%2Fdeep%2Flink"
    );
    assert!(h.access_log().await.is_empty());
}

#[tokio::test]
async fn forward_auth_refuses_callers_that_are_not_trusted_proxies() {
    let h = start_with(Options {
        trusted_proxies: vec![],
        ..Options::default()
    })
    .await;
    let eng = format!("Bearer {}", h.token("alice", &["eng"], 0));
    let r = send(
        &url(&h, "/.seawall/auth"),
        &[("authorization", &eng), ("x-original-uri", "/")],
        "GET",
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.header("x-seawall-assertion").is_empty());
}

#[tokio::test]
async fn websocket_messages_pass_through_the_proxy_both_ways() {
    let h = start().await;
    let token = h.token("alice", &["eng"], 0);
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{}/ws", h.addr),
    )
    .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    for text in ["hello", "through the gateway"] {
        ws.send(tokio_tungstenite::tungstenite::Message::text(text))
            .await
            .unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), text);
    }
    // Without a token the upgrade never reaches the upstream.
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/ws", h.addr)).await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn http2_over_tls_is_negotiated_and_proxied() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let chain = vec![cert.cert.der().clone()];
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let tls = seawall_gateway::tls::server_config_from(chain, key, None).unwrap();
    let h = start_with(Options {
        tls: Some(tls),
        ..Options::default()
    })
    .await;
    let token = h.token("alice", &["eng"], 0);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let mut client_tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    client_tls.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_tls));
    let tcp = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let stream = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri(format!("https://localhost:{}/over-h2", h.addr.port()))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["headers"]["x-forwarded-proto"], "https");
    assert_eq!(echo["headers"]["x-forwarded-host"], "localhost");
    assert_eq!(echo["headers"]["x-forwarded-user"], "alice");
}

#[tokio::test]
async fn a_policy_dir_with_a_syntax_error_keeps_the_last_good_policies() {
    let h = start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.cedar"),
        "permit (principal, action, resource);",
    )
    .unwrap();
    assert!(seawall_gateway::reload(&h.authorizer, dir.path()));
    let anyone = format!("Bearer {}", h.token("mallory", &[], 0));
    let r = send(&url(&h, "/x"), &[("authorization", &anyone)], "POST", "").await;
    assert_eq!(r.status, StatusCode::OK);

    std::fs::write(
        dir.path().join("a.cedar"),
        "permit (principal, action, resource",
    )
    .unwrap();
    assert!(!seawall_gateway::reload(&h.authorizer, dir.path()));
    let r = send(&url(&h, "/x"), &[("authorization", &anyone)], "POST", "").await;
    assert_eq!(r.status, StatusCode::OK, "the last good policies must stay");

    let watcher = seawall_gateway::watch_policy_dir(
        h.authorizer.clone(),
        dir.path().to_path_buf(),
        std::time::Duration::from_millis(20),
    );
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    std::fs::write(
        dir.path().join("a.cedar"),
        "forbid (principal, action, resource);",
    )
    .unwrap();
    let mut denied = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let r = send(&url(&h, "/x"), &[("authorization", &anyone)], "POST", "").await;
        if r.status == StatusCode::FORBIDDEN {
            denied = true;
            break;
        }
    }
    watcher.abort();
    assert!(denied, "the watcher did not load the fixed policy set");
}

#[tokio::test]
async fn first_sign_in_enrolls_totp_then_shows_recovery_codes_once() {
    let h = start().await;
    let page = send(&url(&h, "/.seawall/sign-in?rd=%2Fwelcome"), &[], "GET", "").await;
    let csrf = set_cookie(&page, "seawall_csrf").unwrap();
    let cookie = format!("seawall_csrf={csrf}");
    let enroll = send(
        &url(&h, "/.seawall/sign-in"),
        &[("cookie", &cookie)],
        "POST",
        &format!("csrf={csrf}&rd=%2Fwelcome&username=newbie&password=first+time"),
    )
    .await;
    assert_eq!(enroll.status, StatusCode::OK, "{}", enroll.text());
    let html = enroll.text();
    assert!(html.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"qr\">"));
    assert!(html.contains("JBSWY3DPEHPK3PXP"));
    assert!(html.contains(
        "href=\"otpauth://totp/Seawall:newbie?secret=JBSWY3DPEHPK3PXP&amp;issuer=Seawall\""
    ));
    assert!(html.contains("action=\"/.seawall/enroll/confirm\""));
    let pending = set_cookie(&enroll, "seawall_pending").unwrap();

    let cookie = format!("seawall_csrf={csrf}; seawall_pending={pending}");
    let wrong = send(
        &url(&h, "/.seawall/enroll/confirm"),
        &[("cookie", &cookie)],
        "POST",
        &format!("csrf={csrf}&rd=%2Fwelcome&code=000000"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text().contains("the code is wrong or has expired"));
    assert!(wrong.text().contains("action=\"/.seawall/enroll/confirm\""));

    let done = send(
        &url(&h, "/.seawall/enroll/confirm"),
        &[("cookie", &cookie)],
        "POST",
        &format!("csrf={csrf}&rd=%2Fwelcome&code=654321"),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK);
    let html = done.text();
    assert!(html.contains("<li>aaaa-bbbb</li>") && html.contains("<li>cccc-dddd</li>"));
    assert!(html.contains("href=\"/welcome\""));
    assert!(set_cookie(&done, "seawall_session").is_some_and(|s| !s.is_empty()));
    assert_eq!(set_cookie(&done, "seawall_pending").as_deref(), Some(""));
}
