//! The control plane's HTTP API.
//!
//! - `/.well-known/openid-configuration` and `/.well-known/jwks.json` (OIDC discovery, RFC 7517)
//! - `/api/v1/auth/*`: the sign-in steps (see `seawall_core::auth` for the table)
//! - `/api/v1/gateway/sync`: keys, revocations and policies for `seawall proxy`
//! - `/v1/...`: the vault, in Vault's own API shape (see `seawall_vault::http`)
//! - `/api/v1/users`, `/api/v1/lockouts`, `/api/v1/tokens/revoke`: administration, for members
//!   of the `admins` group
//!
//! Errors are JSON `{"error": kind, "message": text}`; [`ApiError`] is the one place that maps
//! them to statuses.

mod admin;
mod auth;
pub mod supply;
mod sync;
mod vault;

use crate::serve::PeerAddr;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use seawall_core::auth::{AuthError, ClientInfo};
use seawall_core::config::Config;
use seawall_identity::{IdentityError, IdentityService};
use seawall_policy::PolicyEngine;
use std::net::IpAddr;
use std::sync::Arc;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub identity: IdentityService,
    /// The sign-in steps (the identity service, with metrics).
    pub sign_in: Arc<dyn seawall_core::auth::SignInBackend>,
    pub config: Arc<Config>,
    /// The policy files the server serves to gateways, as `(name, text)`.
    pub policies: Arc<arc_swap::ArcSwap<PolicySnapshot>>,
    /// Wakes long-polling gateways when something changed.
    pub changed: Arc<tokio::sync::Notify>,
    /// SBOMs, advisories and findings.
    pub supply: supply::SupplyState,
    /// The secrets vault behind `/v1/`.
    pub vault: Arc<seawall_vault::core::Vault>,
}

/// The current policy files and their version.
#[derive(Debug, Clone, Default)]
pub struct PolicySnapshot {
    pub version: u64,
    pub files: Vec<(String, String)>,
}

impl PolicySnapshot {
    /// A snapshot of what `engine` was loaded from.
    pub fn new(version: u64, files: Vec<(String, String)>, _engine: &PolicyEngine) -> Self {
        Self { version, files }
    }
}

/// The API router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/.well-known/jwks.json", get(jwks))
        .route("/api/v1/auth/password", post(auth::password))
        .route("/api/v1/auth/factor", post(auth::factor))
        .route("/api/v1/auth/enroll/totp", post(auth::enroll_totp))
        .route("/api/v1/auth/enroll/totp/confirm", post(auth::confirm_totp))
        .route("/api/v1/auth/step-up", post(auth::step_up))
        .route("/api/v1/auth/sign-out", post(auth::sign_out))
        .route("/api/v1/auth/refresh", post(auth::refresh))
        .route("/api/v1/gateway/sync", get(sync::sync))
        .merge(admin::routes())
        .merge(supply::routes())
        .merge(vault::routes())
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

async fn openid_configuration(axum::extract::State(s): axum::extract::State<ApiState>) -> Response {
    json_no_store(s.identity.openid_configuration(s.identity.issuer()), 3600)
}

async fn jwks(axum::extract::State(s): axum::extract::State<ApiState>) -> Response {
    // Short caching: a rotated-in key must reach verifiers well before it signs anything.
    json_no_store(s.identity.jwks(), 60)
}

fn json_no_store(value: serde_json::Value, max_age: u32) -> Response {
    let mut r = Json(value).into_response();
    if let Ok(v) = format!("public, max-age={max_age}").parse() {
        r.headers_mut().insert(axum::http::header::CACHE_CONTROL, v);
    }
    r
}

/// The client of a request: the TCP peer, or the first `X-Forwarded-For` hop when the peer is
/// a trusted proxy (a gateway calling on a browser's behalf).
pub fn client_info(config: &Config, peer: Option<PeerAddr>, headers: &HeaderMap) -> ClientInfo {
    let peer_ip = peer.map_or(IpAddr::from([127, 0, 0, 1]), |p| p.0.ip());
    let trusted = config
        .gateway
        .trusted_proxies
        .iter()
        .any(|n| n.contains(&peer_ip));
    let forwarded = trusted
        .then(|| headers.get("x-forwarded-for")?.to_str().ok())
        .flatten()
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    ClientInfo {
        ip: forwarded.unwrap_or(peer_ip),
        user_agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect()),
    }
}

/// An error answered as JSON.
#[derive(Debug)]
pub enum ApiError {
    Auth(AuthError),
    Identity(IdentityError),
    BadRequest(String),
    Forbidden(&'static str),
    NotFound(String),
    Store(String),
    Internal,
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::Auth(e)
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        ApiError::Identity(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, message, retry) = match &self {
            ApiError::Auth(e) => {
                let kind = serde_json::to_value(e)
                    .ok()
                    .and_then(|v| v.get("error").and_then(|k| k.as_str().map(String::from)))
                    .unwrap_or_else(|| "auth".into());
                let retry = match e {
                    AuthError::Throttled { retry_after } => Some(*retry_after),
                    _ => None,
                };
                (e.status(), kind, e.to_string(), retry)
            }
            ApiError::Identity(e) => (e.status(), "invalid".into(), e.to_string(), None),
            ApiError::BadRequest(m) => (400, "bad_request".into(), m.clone(), None),
            ApiError::Forbidden(m) => (403, "forbidden".into(), (*m).into(), None),
            ApiError::NotFound(m) => (404, "not_found".into(), m.clone(), None),
            ApiError::Store(m) => {
                tracing::warn!(error = %m, "store error");
                (
                    503,
                    "unavailable".into(),
                    "the store is unavailable".into(),
                    None,
                )
            }
            ApiError::Internal => (500, "internal".into(), "internal error".into(), None),
        };
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = serde_json::json!({ "error": kind, "message": message });
        if let Some(r) = retry {
            body["retry_after"] = r.into();
        }
        let mut resp = (status, Json(body)).into_response();
        if let Some(r) = retry {
            if let Ok(v) = r.to_string().parse() {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

/// Turns a JSON body rejection into a one-line 400.
pub fn bad_json(e: axum::extract::rejection::JsonRejection) -> ApiError {
    ApiError::BadRequest(
        e.body_text()
            .lines()
            .next()
            .unwrap_or("bad json")
            .to_string(),
    )
}
