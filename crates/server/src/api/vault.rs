//! `/v1/...`: the vault's Vault-compatible API, mounted on the control plane's listener.

use super::ApiState;
use crate::serve::PeerAddr;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::any;
use axum::Router;

/// The `/v1/` routes (every method, `LIST` included).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/{*path}", any(handle))
        .route("/v1", any(handle))
        .route("/v1/", any(handle))
        // Bodies up to this size reach the vault, which refuses those over its own limit with
        // a JSON error it audits; only larger ones are cut off here.
        .layer(DefaultBodyLimit::max(16 * seawall_vault::http::MAX_BODY))
}

async fn handle(
    State(s): State<ApiState>,
    peer: Option<Extension<PeerAddr>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().strip_prefix("/v1").unwrap_or("");
    seawall_vault::http::serve(
        &s.vault,
        &method,
        path,
        uri.query(),
        &headers,
        body,
        peer.map(|Extension(PeerAddr(a))| a.ip()),
    )
    .await
}
