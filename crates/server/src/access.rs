//! Glue between the gateway and the domains that decide for it.
//!
//! The gateway asks two questions through its own traits: who is this ([`Authenticate`]) and
//! may they ([`Authorize`]). Here the identity crate's [`Verifier`] answers the first; the policy
//! engine, fed with the request's context (country from the geo resolver, device from the
//! client certificate or a posture assertion, risk from the behaviour tracker), answers the
//! second. Decisions are written to the audit log through [`AuditSink`].

use arc_swap::ArcSwap;
use seawall_audit::{AuditEntry, AuditLog, Outcome as AuditOutcome};
use seawall_core::auth::{AuthError, Principal};
use seawall_core::config::Config;
use seawall_gateway::{
    AccessDecision, AccessRequest, Authenticate, Authorize, ContextSummary, DecisionRecord,
    DecisionSink, Verdict,
};
use seawall_identity::Verifier;
use seawall_policy::device::{device_from_certificate, PostureVerifier};
use seawall_policy::geo::GeoResolver;
use seawall_policy::risk::{BehaviourTracker, RiskEngine, RiskSettings, Sighting};
use seawall_policy::{DeviceFacts, Outcome, PolicyEngine, RequestFacts};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

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

/// The policy engine with its context sources.
pub struct PolicyAuthorizer {
    engine: ArcSwap<PolicyEngine>,
    groups: ArcSwap<BTreeSet<String>>,
    zone: seawall_policy::Zone,
    geo: GeoResolver,
    posture: PostureVerifier,
    tracker: Mutex<BehaviourTracker>,
}

impl PolicyAuthorizer {
    /// An authorizer over `engine`, with context sources from `config`.
    pub fn new(engine: PolicyEngine, config: &Config) -> Result<Self, AccessSetupError> {
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
        let engine = engine.with_zone(zone.clone());
        Ok(Self {
            groups: ArcSwap::from_pointee(engine.groups_mentioned().clone()),
            engine: ArcSwap::from_pointee(engine),
            zone,
            geo,
            posture,
            tracker: Mutex::new(tracker),
        })
    }

    /// Replaces the policies; requests in flight finish with the old set.
    pub fn set_engine(&self, engine: PolicyEngine) {
        let engine = engine.with_zone(self.zone.clone());
        self.groups
            .store(Arc::new(engine.groups_mentioned().clone()));
        self.engine.store(Arc::new(engine));
    }

    fn device(&self, request: &AccessRequest<'_>) -> DeviceFacts {
        let cert = request
            .device_cert
            .and_then(|der| device_from_certificate(der).ok());
        let claims = request
            .posture_assertion
            .and_then(|a| self.posture.verify(a, request.now).ok());
        DeviceFacts::resolve(cert.as_ref(), claims.as_ref())
    }
}

impl Authorize for PolicyAuthorizer {
    fn decide(&self, request: &AccessRequest<'_>) -> AccessDecision {
        let geo = self.geo.lookup(request.ip);
        let device = self.device(request);
        let sighting = Sighting {
            now: request.now,
            country: geo.country.as_deref(),
            location: geo.location,
        };
        let risk = {
            let mut tracker = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
            tracker.observe(&request.principal.username, &sighting)
        };
        let p = request.principal;
        let facts = RequestFacts {
            user: &p.username,
            groups: &p.groups,
            method: request.method,
            route: request.route,
            host: request.host,
            path: request.path,
            ip: request.ip,
            country: geo.country.as_deref(),
            now: request.now,
            mfa_time: (p.mfa_time > 0).then_some(p.mfa_time),
            device: &device,
            risk: &risk,
        };
        let decision = self.engine.load().decide(&facts);
        let verdict = match decision.outcome {
            Outcome::Allow => Verdict::Allow,
            Outcome::Deny => Verdict::Deny,
            Outcome::StepUp => Verdict::StepUp,
        };
        AccessDecision {
            verdict,
            reason: decision.reason,
            policies: decision.policy_ids,
            context: ContextSummary {
                country: geo.country.unwrap_or_else(|| "ZZ".into()),
                device_posture: device.posture.as_str().to_string(),
                device_id: device.id.unwrap_or_default(),
                risk_score: i64::from(risk.score),
                risk_reasons: risk
                    .reasons
                    .iter()
                    .map(|r| r.as_str().to_string())
                    .collect(),
            },
        }
    }

    fn groups_mentioned(&self) -> Arc<BTreeSet<String>> {
        self.groups.load_full()
    }
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
