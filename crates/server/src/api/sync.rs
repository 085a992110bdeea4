//! `GET /api/v1/gateway/sync?after=V&wait=S`: what a separate gateway needs, long-polled.
//!
//! The answer carries the signing keys (JWKS), the revocations recorded after the gateway's
//! revocation version, and the policy files. When nothing is newer than `after`, the call
//! waits up to `wait` seconds (at most 30) for a change, so a revocation reaches every gateway
//! well within a second without hammering the server.

use super::{ApiError, ApiState};
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Deserialize)]
pub struct SyncQuery {
    /// The revocation version the gateway has.
    #[serde(default)]
    after: i64,
    /// The policy version the gateway has.
    #[serde(default)]
    policy_after: u64,
    /// Longest wait for a change, in seconds.
    #[serde(default)]
    wait: u64,
}

/// The sync document.
#[derive(Debug, Serialize, Deserialize)]
pub struct SyncResponse {
    pub version: i64,
    pub jwks: serde_json::Value,
    pub revocations: seawall_identity::RevocationDelta,
    pub policy_version: u64,
    /// Present only when newer than `policy_after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<(String, String)>>,
}

pub async fn sync(
    State(s): State<ApiState>,
    Query(q): Query<SyncQuery>,
) -> Result<Json<SyncResponse>, ApiError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(q.wait.min(30));
    loop {
        // Register interest before looking, so a change between the look and the wait is
        // not missed.
        let notified = s.changed.notified();
        let answer = snapshot(&s, q.after, q.policy_after).await?;
        let fresh = !answer.revocations.entries.is_empty() || answer.policies.is_some();
        if fresh || tokio::time::Instant::now() >= deadline {
            return Ok(Json(answer));
        }
        // Revocations made by another process (the CLI on the same store) don't notify;
        // look again at least every 200 ms.
        let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
    }
}

async fn snapshot(s: &ApiState, after: i64, policy_after: u64) -> Result<SyncResponse, ApiError> {
    let identity = s.identity.clone();
    let delta = tokio::task::spawn_blocking(move || identity.revocations_since(after))
        .await
        .map_err(|_| ApiError::Internal)??;
    let policies = s.policies.load();
    Ok(SyncResponse {
        version: delta.version,
        jwks: s.identity.jwks(),
        revocations: delta,
        policy_version: policies.version,
        policies: (policies.version > policy_after).then(|| policies.files.clone()),
    })
}
