//! The gateway's side of the control plane, for `seawall proxy` (a separate process):
//! [`RemoteSignIn`] runs the sign-in steps over `/api/v1/auth/*`, and [`spawn_sync`] keeps the
//! token verifier's keys and revocations and the policies up to date by long-polling
//! `/api/v1/gateway/sync`.

use crate::policy::PolicyAuthorizer;
use crate::upstream;
use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use seawall_core::auth::{
    AuthError, ClientInfo, FactorRequest, PasswordRequest, PendingRequest, RefreshRequest,
    SessionRequest, SignInBackend, SignInStep, StepUpRequest, TotpEnrollment,
};
use seawall_identity::{Jwks, RevocationDelta, Verifier};
use seawall_policy::PolicyEngine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Longest answer accepted from the control plane.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// How long one sign-in call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Shortest time between two sync calls.
const MIN_SYNC_ROUND: Duration = Duration::from_millis(50);
/// How long the control plane may hold a sync call open.
const SYNC_WAIT_SECS: u64 = 20;

/// Why the control plane could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("control plane url `{0}` is not an http:// or https:// url")]
    BadUrl(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("control plane request failed: {0}")]
    Transport(String),
    #[error("control plane answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("control plane answer is malformed: {0}")]
    Malformed(String),
}

/// A JSON client of the control plane.
#[derive(Clone)]
struct ControlPlane {
    base: String,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl ControlPlane {
    fn new(server_url: &str, ca: Option<&Path>) -> Result<Self, RemoteError> {
        let base = server_url.trim_end_matches('/').to_string();
        let ok = base.parse::<Uri>().ok().is_some_and(|u| {
            matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some()
        });
        if !ok {
            return Err(RemoteError::BadUrl(server_url.to_string()));
        }
        Ok(Self {
            base,
            client: upstream::client(ca)?,
        })
    }

    /// Sends a request and returns the status and body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        client: Option<&ClientInfo>,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), RemoteError> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("accept", "application/json");
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        if let Some(c) = client {
            // The control plane honours this only from peers it lists as trusted proxies.
            req = req.header("x-forwarded-for", c.ip.to_string());
            if let Some(ua) = &c.user_agent {
                req = req.header("user-agent", ua.as_str());
            }
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| RemoteError::Transport(e.to_string()))?;
        let send = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| RemoteError::Transport(e.to_string()))?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| RemoteError::Transport(e.to_string()))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(timeout, send)
            .await
            .map_err(|_| RemoteError::Transport("timed out".into()))?
    }
}

/// The sign-in steps, run by the control plane over HTTP.
#[derive(Clone)]
pub struct RemoteSignIn {
    cp: ControlPlane,
}

impl std::fmt::Debug for RemoteSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSignIn")
            .field("server", &self.cp.base)
            .finish()
    }
}

/// An error body of the `/api/v1/auth/*` endpoints.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    retry_after: Option<u64>,
}

impl RemoteSignIn {
    /// A client of the control plane at `server_url`, trusting `ca` (PEM) or the system roots.
    pub fn new(server_url: &str, ca: Option<&Path>) -> Result<Self, RemoteError> {
        Ok(Self {
            cp: ControlPlane::new(server_url, ca)?,
        })
    }

    async fn step<Q: Serialize, A: DeserializeOwned>(
        &self,
        path: &str,
        req: &Q,
        client: &ClientInfo,
    ) -> Result<A, AuthError> {
        let body = serde_json::to_vec(req).map_err(|e| AuthError::Malformed(e.to_string()))?;
        let path = format!("/api/v1/auth/{path}");
        let (status, bytes) = self
            .cp
            .call(Method::POST, &path, Some(body), Some(client), CALL_TIMEOUT)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "identity provider unreachable");
                AuthError::Unavailable
            })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| AuthError::Unavailable);
        }
        Err(auth_error(status, &bytes))
    }
}

/// Maps an error answer back to the [`AuthError`] the control plane raised.
fn auth_error(status: StatusCode, body: &[u8]) -> AuthError {
    let Ok(e) = serde_json::from_slice::<ErrorBody>(body) else {
        return match status.as_u16() {
            400 => AuthError::Malformed("rejected by the identity provider".into()),
            401 => AuthError::InvalidToken,
            429 => AuthError::Throttled { retry_after: 60 },
            _ => AuthError::Unavailable,
        };
    };
    match e.error.as_str() {
        "bad_credentials" => AuthError::BadCredentials,
        "bad_code" => AuthError::BadCode,
        "code_reused" => AuthError::CodeReused,
        "throttled" => AuthError::Throttled {
            retry_after: e.retry_after.unwrap_or(60),
        },
        "enrollment_required" => AuthError::EnrollmentRequired,
        "pending_expired" => AuthError::PendingExpired,
        "invalid_token" => AuthError::InvalidToken,
        "expired" => AuthError::Expired,
        "revoked" => AuthError::Revoked,
        "refresh_reuse" => AuthError::RefreshReuse,
        "malformed" => AuthError::Malformed(e.message.chars().take(200).collect()),
        _ => AuthError::Unavailable,
    }
}

#[async_trait::async_trait]
impl SignInBackend for RemoteSignIn {
    async fn password(&self, r: PasswordRequest, c: &ClientInfo) -> Result<SignInStep, AuthError> {
        self.step("password", &r, c).await
    }

    async fn second_factor(
        &self,
        r: FactorRequest,
        c: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        self.step("factor", &r, c).await
    }

    async fn enroll_totp(
        &self,
        r: PendingRequest,
        c: &ClientInfo,
    ) -> Result<TotpEnrollment, AuthError> {
        self.step("enroll/totp", &r, c).await
    }

    async fn confirm_totp(
        &self,
        r: FactorRequest,
        c: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        self.step("enroll/totp/confirm", &r, c).await
    }

    async fn step_up(&self, r: StepUpRequest, c: &ClientInfo) -> Result<SignInStep, AuthError> {
        self.step("step-up", &r, c).await
    }

    async fn sign_out(&self, r: SessionRequest, c: &ClientInfo) -> Result<(), AuthError> {
        self.step::<_, serde_json::Value>("sign-out", &r, c)
            .await
            .map(drop)
    }

    async fn refresh(&self, r: RefreshRequest, c: &ClientInfo) -> Result<SignInStep, AuthError> {
        self.step("refresh", &r, c).await
    }
}

/// The sync document of `GET /api/v1/gateway/sync`.
#[derive(Debug, Deserialize)]
pub struct SyncDocument {
    /// The revocation version this answer brings the gateway to.
    pub version: i64,
    pub jwks: Jwks,
    pub revocations: RevocationDelta,
    #[serde(default)]
    pub policy_version: u64,
    /// `(file name, text)`; present only when newer than the gateway's policy version.
    #[serde(default)]
    pub policies: Option<Vec<(String, String)>>,
}

/// Keeps `verifier` and `authorizer` in step with the control plane at `server_url`:
/// long-polls the sync endpoint and applies each answer. A policy set that fails to load is
/// refused (the last good one stays) and logged with its file, line and column. Runs until the
/// task is aborted; after a failure it retries with backoff up to `max_backoff`.
pub fn spawn_sync(
    server_url: &str,
    ca: Option<&Path>,
    verifier: Arc<Verifier>,
    authorizer: Arc<PolicyAuthorizer>,
    max_backoff: Duration,
) -> Result<tokio::task::JoinHandle<()>, RemoteError> {
    let cp = ControlPlane::new(server_url, ca)?;
    Ok(tokio::spawn(async move {
        let mut policy_version = 0u64;
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = tokio::time::Instant::now();
            let round = sync_once(
                &cp,
                &verifier,
                &authorizer,
                &mut policy_version,
                SYNC_WAIT_SECS,
            );
            match round.await {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    // A control plane that answers at once instead of holding the poll open
                    // must not be hammered.
                    tokio::time::sleep_until(started + MIN_SYNC_ROUND).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "gateway sync failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(max_backoff.max(Duration::from_millis(100)));
                }
            }
        }
    }))
}

/// One sync round: fetch and apply.
async fn sync_once(
    cp: &ControlPlane,
    verifier: &Verifier,
    authorizer: &PolicyAuthorizer,
    policy_version: &mut u64,
    wait: u64,
) -> Result<(), RemoteError> {
    let path = format!(
        "/api/v1/gateway/sync?after={}&policy_after={}&wait={wait}",
        verifier.revocation_version(),
        policy_version
    );
    let timeout = Duration::from_secs(wait + 10);
    let (status, body) = cp.call(Method::GET, &path, None, None, timeout).await?;
    if !status.is_success() {
        return Err(RemoteError::Status {
            status: status.as_u16(),
            message: String::from_utf8_lossy(&body).chars().take(200).collect(),
        });
    }
    let doc: SyncDocument =
        serde_json::from_slice(&body).map_err(|e| RemoteError::Malformed(e.to_string()))?;
    apply(doc, verifier, authorizer, policy_version)
}

/// Applies one sync document.
pub fn apply(
    doc: SyncDocument,
    verifier: &Verifier,
    authorizer: &PolicyAuthorizer,
    policy_version: &mut u64,
) -> Result<(), RemoteError> {
    verifier
        .set_jwks(&doc.jwks)
        .map_err(|e| RemoteError::Malformed(e.to_string()))?;
    if !doc.revocations.entries.is_empty()
        || doc.revocations.version > verifier.revocation_version()
    {
        verifier.apply(&doc.revocations);
    }
    if let Some(files) = doc.policies {
        match PolicyEngine::from_sources(files) {
            Ok(engine) => {
                tracing::info!(
                    policy.version = doc.policy_version,
                    policy.count = engine.policy_count(),
                    "policies updated from the control plane"
                );
                authorizer.set_engine(engine);
            }
            Err(e) => tracing::error!(
                policy.version = doc.policy_version,
                error = %e,
                "policies from the control plane refused; keeping the last good policies"
            ),
        }
        // Either way this version was seen; a fixed set comes with a newer version.
        *policy_version = doc.policy_version;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_map_back_to_auth_errors() {
        let e = auth_error(
            StatusCode::TOO_MANY_REQUESTS,
            br#"{"error":"throttled","message":"x","retry_after":7}"#,
        );
        assert_eq!(e, AuthError::Throttled { retry_after: 7 });
        assert_eq!(
            auth_error(StatusCode::UNAUTHORIZED, br#"{"error":"bad_code"}"#),
            AuthError::BadCode
        );
        assert_eq!(
            auth_error(StatusCode::BAD_GATEWAY, b"<html>"),
            AuthError::Unavailable
        );
        assert_eq!(
            auth_error(StatusCode::UNAUTHORIZED, b"garbage"),
            AuthError::InvalidToken
        );
    }

    #[test]
    fn bad_control_plane_urls_are_refused() {
        for bad in ["", "ftp://x", "localhost:8443", "https://"] {
            assert!(RemoteSignIn::new(bad, None).is_err(), "{bad}");
        }
    }
}
