//! Glue between the gateway and the domains that decide for it.
//!
//! The gateway asks through its own traits who a caller is and whether they may pass. Here the
//! identity crate's [`Verifier`] answers the first; the gateway's [`PolicyAuthorizer`], built
//! from the configuration's context sources (geo, posture agents, time zone, risk settings),
//! answers the second. Decisions are written to the audit log through [`AuditSink`].

use seawall_audit::{AuditEntry, AuditLog, Outcome as AuditOutcome};
use seawall_core::auth::{AuthError, Principal};
use seawall_core::config::Config;
use seawall_gateway::policy::PolicyAuthorizer;
use seawall_gateway::{Authenticate, DecisionRecord, DecisionSink, Verdict};
use seawall_identity::Verifier;
use seawall_policy::device::PostureVerifier;
use seawall_policy::geo::GeoResolver;
use seawall_policy::risk::{BehaviourTracker, RiskEngine, RiskSettings};
use seawall_policy::PolicyEngine;
use std::sync::Arc;

/// The identity verifier, as the gateway's authenticator.
pub struct VerifierAuth(pub Arc<Verifier>);

impl Authenticate for VerifierAuth {
    fn verify_access(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        self.0.verify_access(token, now)
    }

    fn verify_session(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        self.0.verify_session(token, now)
    }
}

/// Why the authorizer could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum AccessSetupError {
    #[error("{0}")]
    Geo(#[from] seawall_policy::geo::GeoError),
    #[error("device.posture_agent_keys: {0}")]
    Device(#[from] seawall_policy::device::DeviceError),
    #[error("policy.timezone: {0}")]
    Zone(#[from] seawall_policy::ZoneError),
}

/// The gateway's policy authorizer with the context sources `config` names.
pub fn authorizer(
    engine: PolicyEngine,
    config: &Config,
) -> Result<PolicyAuthorizer, AccessSetupError> {
    let geo = GeoResolver::from_config(config.geo.mmdb.as_deref(), &config.geo.cidr)?;
    let posture = PostureVerifier::new(&config.device.posture_agent_keys)?;
    let zone = seawall_policy::Zone::named(&config.policy.timezone)?;
    let settings = RiskSettings {
        max_travel_kmh: config.risk.max_travel_kmh,
        rate_factor: config.risk.rate_factor,
    };
    let tracker = BehaviourTracker::new(
        RiskEngine::new(settings),
        BehaviourTracker::DEFAULT_MAX_USERS,
    );
    Ok(PolicyAuthorizer::new(engine, zone, geo, posture, tracker))
}

/// Writes every gateway decision to the audit log.
pub struct AuditSink(pub AuditLog);

impl DecisionSink for AuditSink {
    fn record(&self, r: DecisionRecord) {
        let outcome = match r.decision.verdict {
            Verdict::Allow => AuditOutcome::Allow,
            Verdict::Deny | Verdict::StepUp => AuditOutcome::Deny,
        };
        let c = &r.decision.context;
        let entry = AuditEntry::new("policy.decision", outcome)
            .actor(r.user)
            .subject(r.route)
            .source_ip(r.ip)
            .detail("verdict", r.decision.verdict.as_str())
            .detail("reason", r.decision.reason)
            .detail("policies", r.decision.policies)
            .detail("source", r.source)
            .detail("method", r.method)
            .detail("path", r.path)
            .detail("country", c.country.clone())
            .detail("device_posture", c.device_posture.clone())
            .detail("risk_score", c.risk_score)
            .detail("risk_reasons", c.risk_reasons.clone());
        self.0.record(entry);
    }
}
