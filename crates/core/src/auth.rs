//! What the gateway and the control plane agree on about authentication.
//!
//! The identity provider (control plane) signs users in and issues tokens; the gateway verifies
//! tokens locally and serves the sign-in pages, calling the identity provider through
//! [`SignInBackend`]. In `seawall up` the backend is the identity service itself; in
//! `seawall proxy` it is an HTTP client of the control plane's `/api/v1/auth/*` endpoints, which
//! take and return these same types as JSON:
//!
//! | call | endpoint | body |
//! | --- | --- | --- |
//! | [`SignInBackend::password`] | `POST /api/v1/auth/password` | [`PasswordRequest`] |
//! | [`SignInBackend::second_factor`] | `POST /api/v1/auth/factor` | [`FactorRequest`] |
//! | [`SignInBackend::enroll_totp`] | `POST /api/v1/auth/enroll/totp` | [`PendingRequest`] |
//! | [`SignInBackend::confirm_totp`] | `POST /api/v1/auth/enroll/totp/confirm` | [`FactorRequest`] |
//! | [`SignInBackend::step_up`] | `POST /api/v1/auth/step-up` | [`StepUpRequest`] |
//! | [`SignInBackend::sign_out`] | `POST /api/v1/auth/sign-out` | [`SessionRequest`] |
//! | [`SignInBackend::refresh`] | `POST /api/v1/auth/refresh` | [`RefreshRequest`] |
//!
//! Each answers 200 with a [`SignInStep`] (or [`TotpEnrollment`]), or an error body
//! `{"error": "<AuthError kind>", "message": "...", "retry_after": N?}` with the status
//! [`AuthError::status`] gives.

use crate::ids::{SessionId, UserId};
use crate::Secret;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Who a verified token or session says the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: UserId,
    pub username: String,
    pub groups: Vec<String>,
    /// Authentication methods used (RFC 8176 values: `pwd`, `otp`, `mfa`, ...).
    pub amr: Vec<String>,
    /// When the user signed in (unix seconds).
    pub auth_time: i64,
    /// When a second factor was last used (unix seconds), for step-up policies.
    pub mfa_time: i64,
    /// The session the token belongs to.
    pub session_id: Option<SessionId>,
    /// The token's `jti`.
    pub token_id: String,
    /// When the token was issued and when it expires (unix seconds).
    pub issued_at: i64,
    pub expires_at: i64,
}

/// The connection a sign-in attempt came from, for throttling, risk and audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

/// A second factor kind. WebAuthn plugs in as another variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorKind {
    Totp,
    RecoveryCode,
}

/// Where a sign-in stands after a step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum SignInStep {
    /// The password was right; a second factor is needed. `pending` is an opaque, short-lived
    /// proof of the first step, good for a few minutes.
    SecondFactor {
        pending: SecretString,
        factors: Vec<FactorKind>,
    },
    /// The user has no second factor yet: the only thing `pending` allows is enrolling one.
    Enroll { pending: SecretString },
    /// Signed in.
    Done(Box<Tokens>),
}

/// What a completed sign-in yields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tokens {
    /// Goes in the gateway's session cookie; a signed token the gateway verifies locally.
    pub session_token: SecretString,
    /// A short-lived JWT access token (RFC 9068).
    pub access_token: SecretString,
    /// Rotates on every use.
    pub refresh_token: SecretString,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    /// Seconds until the session ends.
    pub session_expires_in: u64,
    /// Set once, when a factor is first enrolled: the recovery codes to show the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<SecretString>>,
}

/// A TOTP secret being enrolled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TotpEnrollment {
    /// The `otpauth://totp/...` URI.
    pub uri: SecretString,
    /// The secret in base32, for manual entry.
    pub secret: SecretString,
    /// The URI as a QR code, SVG markup.
    pub qr_svg: String,
}

/// A secret string that serialises as its value (it crosses the API to its owner) but never
/// shows in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(pub Secret<String>);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        Self(Secret::new(s.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretString::new)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordRequest {
    pub username: String,
    pub password: SecretString,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FactorRequest {
    pub pending: SecretString,
    pub kind: FactorKind,
    pub code: SecretString,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingRequest {
    pub pending: SecretString,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepUpRequest {
    pub session_token: SecretString,
    pub kind: FactorKind,
    pub code: SecretString,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRequest {
    pub session_token: SecretString,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRequest {
    pub refresh_token: SecretString,
}

/// Why authentication failed. The messages are safe to show to the user: they never say
/// whether a user name exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum AuthError {
    #[error("the user name or password is wrong")]
    BadCredentials,
    #[error("the code is wrong or has expired")]
    BadCode,
    #[error("the code was already used")]
    CodeReused,
    #[error("too many failed attempts; try again in {retry_after} s")]
    Throttled { retry_after: u64 },
    #[error("a second factor must be enrolled first")]
    EnrollmentRequired,
    #[error("the sign-in step has expired; start again")]
    PendingExpired,
    #[error("the token is missing, malformed or not signed by a known key")]
    InvalidToken,
    #[error("the token has expired")]
    Expired,
    #[error("the token or session was revoked")]
    Revoked,
    #[error("the refresh token was already used; its whole family was revoked")]
    RefreshReuse,
    #[error("the request is malformed: {0}")]
    Malformed(String),
    #[error("the identity service is unavailable")]
    Unavailable,
}

impl AuthError {
    /// The HTTP status for this error: the one place the mapping is made.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Throttled { .. } => 429,
            AuthError::Malformed(_) => 400,
            AuthError::EnrollmentRequired => 403,
            AuthError::Unavailable => 503,
            _ => 401,
        }
    }
}

/// The sign-in steps, as the gateway's sign-in pages and the CLI need them.
#[async_trait::async_trait]
pub trait SignInBackend: Send + Sync {
    /// First step: user name and password.
    async fn password(
        &self,
        req: PasswordRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError>;

    /// Second step: a TOTP or recovery code for a pending sign-in.
    async fn second_factor(
        &self,
        req: FactorRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError>;

    /// Starts TOTP enrollment for a pending sign-in of a user without a factor.
    async fn enroll_totp(
        &self,
        req: PendingRequest,
        client: &ClientInfo,
    ) -> Result<TotpEnrollment, AuthError>;

    /// Confirms enrollment with a first code; completes the sign-in with recovery codes.
    async fn confirm_totp(
        &self,
        req: FactorRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError>;

    /// Re-verifies a second factor for a live session; returns fresh tokens.
    async fn step_up(
        &self,
        req: StepUpRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError>;

    /// Ends a session; its tokens stop working on every gateway within a second.
    async fn sign_out(&self, req: SessionRequest, client: &ClientInfo) -> Result<(), AuthError>;

    /// Exchanges a refresh token for new tokens (rotating it).
    async fn refresh(
        &self,
        req: RefreshRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError>;
}
