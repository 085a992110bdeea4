//! The `SecurityEvent` model.
//!
//! Every part of Seawall reports what it saw or decided as a typed event on one bus: sign-ins,
//! policy decisions, new vulnerability findings, runtime alerts. Playbooks and compliance
//! controls read from that bus. Events carry no secrets; values that must be correlated later
//! are HMAC'd by the producer.

use serde::{Deserialize, Serialize};

/// How urgent an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// What kind of thing happened; the dotted name is stable and used by playbooks to match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A sign-in attempt, successful or not.
    SignIn { user: String, outcome: String },
    /// A user or address was locked out after repeated failures.
    Lockout { subject: String, until: i64 },
    /// A refresh token was presented twice: its family was revoked.
    RefreshTokenReuse { user: String, family: String },
    /// A request was denied by policy.
    AccessDenied {
        user: String,
        route: String,
        reason: String,
    },
    /// A new vulnerability finding on a stored SBOM.
    Finding {
        project: String,
        advisory: String,
        purl: String,
    },
    /// Anything else, named by a dotted string.
    Other { name: String },
}

/// One event on the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityEvent {
    /// Seconds since the Unix epoch.
    pub time: i64,
    pub severity: Severity,
    #[serde(flatten)]
    pub kind: EventKind,
    /// Allow-listed context: source address, country, route; never a secret.
    #[serde(default)]
    pub context: serde_json::Map<String, serde_json::Value>,
}

/// Where events go. The default bus is in-process; a NATS JetStream bus plugs in later.
pub trait EventSink: Send + Sync {
    /// Publishes an event; must not block the caller for long.
    fn publish(&self, event: SecurityEvent);
}

/// A sink that drops events, for tools that run without a bus.
#[derive(Debug, Default)]
pub struct NullSink;

impl EventSink for NullSink {
    fn publish(&self, _event: SecurityEvent) {}
}
