//! What the gateway needs from identity, policy and audit, as small traits.
//!
//! The gateway does not verify tokens or evaluate Cedar itself: it asks an [`Authenticate`]
//! (the identity crate's verifier) who the caller is, an [`Authorize`] (the policy engine with
//! its geo, device and risk signals) whether the request may pass, and tells a [`DecisionSink`]
//! (the audit log) what was decided. The binary glues the real implementations in.

use seawall_core::auth::{AuthError, Principal};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

/// Verifies the credentials a request carries.
pub trait Authenticate: Send + Sync {
    /// Verifies a bearer access token (JWT) at unix time `now`.
    fn verify_access(&self, token: &str, now: i64) -> Result<Principal, AuthError>;

    /// Verifies the value of the session cookie at unix time `now`.
    fn verify_session(&self, token: &str, now: i64) -> Result<Principal, AuthError>;
}

/// Everything known about one request when it is authorized.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    /// Who is asking (already authenticated).
    pub principal: &'a Principal,
    /// The HTTP method, which is the Cedar action (`GET`, `POST`, ...).
    pub method: &'a str,
    /// The matched route's name, the Cedar resource `Route::"<name>"`.
    pub route: &'a str,
    /// The host the request was sent to, without port.
    pub host: &'a str,
    /// The request path (without the query).
    pub path: &'a str,
    /// The client address: the TCP peer, or `X-Forwarded-For` from a trusted proxy.
    pub ip: IpAddr,
    /// Unix seconds.
    pub now: i64,
    /// The client certificate (DER) when the TLS peer presented one the device CA verified.
    pub device_cert: Option<&'a [u8]>,
    /// The signed posture assertion header, when no certificate was presented.
    pub posture_assertion: Option<&'a str>,
}

/// The policy's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let the request through.
    Allow,
    /// Refuse it with 403.
    Deny,
    /// Ask the user to re-verify a second factor first.
    StepUp,
}

impl Verdict {
    /// `allow`, `deny` or `step_up`, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::StepUp => "step_up",
        }
    }
}

/// What the request's context looked like when it was decided; allow-listed facts only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextSummary {
    /// ISO country of the client address, `ZZ` when unknown.
    pub country: String,
    /// `compliant`, `noncompliant` or `unknown`.
    pub device_posture: String,
    /// The device id, empty when unknown.
    pub device_id: String,
    /// Behavioural risk score 0..=100.
    pub risk_score: i64,
    /// Why the risk score is what it is.
    pub risk_reasons: Vec<String>,
}

/// A decision with its reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessDecision {
    pub verdict: Verdict,
    /// A short reason id shown to the client and counted in metrics, such as `no_permit`,
    /// `policy_error` or `mfa_too_old`.
    pub reason: String,
    /// Ids of the policies that determined the decision.
    pub policies: Vec<String>,
    /// The context the policy saw.
    pub context: ContextSummary,
}

impl AccessDecision {
    /// A deny for a reason found before the policy ran (fail closed).
    pub fn deny(reason: &str) -> Self {
        Self {
            verdict: Verdict::Deny,
            reason: reason.to_string(),
            policies: Vec::new(),
            context: ContextSummary::default(),
        }
    }
}

/// Decides whether a request may pass.
pub trait Authorize: Send + Sync {
    /// Decides one request. Must fail closed: an evaluation error is a deny.
    fn decide(&self, request: &AccessRequest<'_>) -> AccessDecision;

    /// The groups the policies mention; only these are sent to upstreams.
    fn groups_mentioned(&self) -> Arc<BTreeSet<String>>;
}

/// One audited decision.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    /// Unix seconds.
    pub time: i64,
    pub user: String,
    pub user_id: String,
    /// `proxy` or `forward_auth`.
    pub source: &'static str,
    pub route: String,
    pub method: String,
    pub path: String,
    pub ip: IpAddr,
    pub decision: AccessDecision,
}

/// Where decisions go: the audit log.
pub trait DecisionSink: Send + Sync {
    /// Records one decision; must not block the request for long.
    fn record(&self, record: DecisionRecord);
}

/// A sink that drops decisions, for tests and tools without an audit log.
#[derive(Debug, Default)]
pub struct NoAudit;

impl DecisionSink for NoAudit {
    fn record(&self, _record: DecisionRecord) {}
}
