//! A tiny upstream for demos and tests: it echoes back the request line and every header it
//! received (the identity headers included), echoes WebSocket messages, and keeps an access
//! log at `GET /__access_log` so a test can prove that a denied request never arrived.

use crate::respond::{full, Body};
use futures_util::{SinkExt, StreamExt};
use http::header::{CONNECTION, CONTENT_TYPE, UPGRADE};
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// Most access-log lines kept.
const LOG_LINES: usize = 10_000;

type AccessLog = Arc<Mutex<Vec<serde_json::Value>>>;

/// Serves the echo upstream on `addr` until the task is dropped.
pub async fn serve_echo(addr: SocketAddr) -> std::io::Result<()> {
    run(TcpListener::bind(addr).await?).await
}

/// Binds `addr` (port 0 for any), serves the echo upstream in the background and returns the
/// bound address.
pub async fn spawn_echo(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(run(listener));
    Ok(bound)
}

async fn run(listener: TcpListener) -> std::io::Result<()> {
    let log: AccessLog = Arc::default();
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let log = log.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let log = log.clone();
                async move { Ok::<_, std::convert::Infallible>(echo(req, &log)) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                .await;
        });
    }
}

fn echo(mut req: Request<Incoming>, log: &AccessLog) -> Response<Body> {
    if req.uri().path() == "/__access_log" {
        let lines = log
            .lock()
            .map(|l| serde_json::Value::from(l.clone()))
            .unwrap_or_default();
        return reply(StatusCode::OK, "application/json", lines.to_string());
    }
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
        .collect();
    let request_line = format!("{} {} {:?}", req.method(), req.uri(), req.version());
    if let Ok(mut l) = log.lock() {
        if l.len() >= LOG_LINES {
            l.clear();
        }
        l.push(serde_json::json!({
            "method": req.method().as_str(),
            "uri": req.uri().to_string(),
            "user": headers.get("x-forwarded-user"),
        }));
    }
    if let Some(key) = websocket_key(&req) {
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(echo_websocket(upgrade));
        let mut r = Response::new(full(""));
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        if let Ok(v) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
            h.insert("sec-websocket-accept", v);
        }
        return r;
    }
    let wants_html = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            html(&request_line, &headers),
        )
    } else {
        let body = serde_json::json!({"request": request_line, "headers": headers});
        reply(StatusCode::OK, "application/json", body.to_string())
    }
}

fn websocket_key(req: &Request<Incoming>) -> Option<String> {
    let upgrade = req.headers().get(UPGRADE)?.to_str().ok()?;
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return None;
    }
    Some(
        req.headers()
            .get("sec-websocket-key")?
            .to_str()
            .ok()?
            .to_string(),
    )
}

async fn echo_websocket(upgrade: hyper::upgrade::OnUpgrade) {
    let Ok(upgraded) = upgrade.await else {
        return;
    };
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        TokioIo::new(upgraded),
        Role::Server,
        None,
    )
    .await;
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            break;
        }
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn html(request_line: &str, headers: &serde_json::Map<String, serde_json::Value>) -> String {
    let esc = crate::pages::escape;
    let rows: String = headers
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().unwrap_or_default();
            format!(
                "<tr><th>{}</th><td><code>{}</code></td></tr>",
                esc(k),
                esc(v)
            )
        })
        .collect();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Seawall demo upstream</title>\
         </head><body><h1>Seawall demo upstream</h1><p>This service sits behind the gateway. It \
         received:</p><pre>{}</pre><table>{rows}</table></body></html>",
        esc(request_line)
    )
}
