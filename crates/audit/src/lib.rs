//! The tamper-evident audit log.
//!
//! Every security decision and every change an administrator makes is appended here as one
//! JSON record. Each record carries the SHA-256 of the record before it (`prev`) and its own
//! hash over its exact bytes, so editing, removing, inserting or reordering any record breaks
//! the chain at that point, and [`verify`] names the first record where it breaks.
//!
//! Secrets and tokens are never written. A value that must be matched later (a token id, an
//! address, a user name that failed to sign in) can be recorded as [`AuditLog::hmac`], a keyed
//! hash whose key is sealed in the store.
//!
//! Appending is asynchronous: [`AuditLog::record`] hands the entry to a writer thread, which
//! appends whatever has queued up in one transaction. This keeps the gateway's request path
//! free of disk writes while still writing every record.

mod chain;
mod log;

pub use chain::{verify, ChainBreak, Record, VerifyReport, GENESIS};
pub use log::{check_head, read_head, AuditError, AuditLog, Head};

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Allow,
    Deny,
}

/// One thing to audit, before it is chained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// A dotted name: `signin.password`, `token.refresh`, `policy.decision`, `user.disable`.
    pub action: String,
    pub outcome: Outcome,
    /// Who acted: a user name, or `system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// What was acted on: a user, route, session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<IpAddr>,
    /// Allow-listed details; never a secret.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl AuditEntry {
    /// An entry with only an action and an outcome.
    pub fn new(action: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            action: action.into(),
            outcome,
            actor: None,
            subject: None,
            source_ip: None,
            details: serde_json::Map::new(),
        }
    }

    /// Sets the actor.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Sets the subject.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the source address.
    pub fn source_ip(mut self, ip: IpAddr) -> Self {
        self.source_ip = Some(ip);
        self
    }

    /// Adds one detail.
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }
}
