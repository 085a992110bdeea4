//! [`PolicyAuthorizer`]: the Cedar policy engine with its context signals, as the gateway's
//! [`Authorize`], and [`watch_policy_dir`], which reloads the policies when their files change.
//!
//! For each request it resolves the client's country (geo database or CIDR table), the device
//! (a verified mTLS certificate, else a signed posture assertion, else unknown) and the
//! behavioural risk (this user's own history), then asks the policy engine.

use crate::access::{AccessDecision, AccessRequest, Authorize, ContextSummary, Verdict};
use arc_swap::ArcSwap;
use seawall_policy::device::{device_from_certificate, PostureVerifier};
use seawall_policy::geo::GeoResolver;
use seawall_policy::risk::{BehaviourTracker, Sighting};
use seawall_policy::{DeviceFacts, Outcome, PolicyEngine, RequestFacts, Zone};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The policy engine and the signals it decides with. Its policies can be swapped while
/// requests are being decided.
pub struct PolicyAuthorizer {
    engine: ArcSwap<PolicyEngine>,
    groups: ArcSwap<BTreeSet<String>>,
    zone: Zone,
    geo: GeoResolver,
    posture: PostureVerifier,
    tracker: Mutex<BehaviourTracker>,
}

impl std::fmt::Debug for PolicyAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyAuthorizer")
            .field("policies", &self.engine.load().policy_count())
            .finish_non_exhaustive()
    }
}

impl PolicyAuthorizer {
    /// An authorizer deciding with `engine` (local times in `zone`), `geo`, trusted posture
    /// agents and a behaviour tracker.
    pub fn new(
        engine: PolicyEngine,
        zone: Zone,
        geo: GeoResolver,
        posture: PostureVerifier,
        tracker: BehaviourTracker,
    ) -> Self {
        let engine = engine.with_zone(zone.clone());
        Self {
            groups: ArcSwap::from_pointee(engine.groups_mentioned().clone()),
            engine: ArcSwap::from_pointee(engine),
            zone,
            geo,
            posture,
            tracker: Mutex::new(tracker),
        }
    }

    /// Replaces the policies; decisions already under way finish with the old ones.
    pub fn set_engine(&self, engine: PolicyEngine) {
        let engine = engine.with_zone(self.zone.clone());
        self.groups
            .store(Arc::new(engine.groups_mentioned().clone()));
        self.engine.store(Arc::new(engine));
    }

    /// The policies in force.
    pub fn engine(&self) -> Arc<PolicyEngine> {
        self.engine.load_full()
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
        let risk = match self.tracker.lock() {
            Ok(mut t) => t.observe(&request.principal.username, &sighting),
            // A poisoned tracker only loses behaviour history; the request is still decided.
            Err(poisoned) => poisoned
                .into_inner()
                .observe(&request.principal.username, &sighting),
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
        AccessDecision {
            verdict: match decision.outcome {
                Outcome::Allow => Verdict::Allow,
                Outcome::Deny => Verdict::Deny,
                Outcome::StepUp => Verdict::StepUp,
            },
            reason: decision.reason,
            policies: decision.policy_ids,
            context: ContextSummary {
                country: geo.country.unwrap_or_else(|| "ZZ".to_string()),
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

/// Re-reads `dir` every `interval` and loads its `*.cedar` files into `authorizer` when any
/// changed. A set with an error is refused and the last good policies stay; the error is
/// logged with the file, line and column. Runs until the returned task is aborted.
pub fn watch_policy_dir(
    authorizer: Arc<PolicyAuthorizer>,
    dir: PathBuf,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = fingerprint(&dir);
        loop {
            tokio::time::sleep(interval).await;
            let now = fingerprint(&dir);
            if now == seen {
                continue;
            }
            seen = now;
            reload(&authorizer, &dir);
        }
    })
}

/// Loads `dir` into `authorizer` now; `false` (and the old policies kept) on an error.
pub fn reload(authorizer: &PolicyAuthorizer, dir: &Path) -> bool {
    match PolicyEngine::load_dir(dir) {
        Ok(engine) => {
            tracing::info!(
                policy.dir = %dir.display(),
                policy.count = engine.policy_count(),
                "policies reloaded"
            );
            authorizer.set_engine(engine);
            true
        }
        Err(e) => {
            tracing::error!(
                policy.dir = %dir.display(),
                error = %e,
                "policy reload refused; keeping the last good policies"
            );
            false
        }
    }
}

/// Names, sizes and modification times of the directory's entries.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((e.path(), meta.len(), meta.modified().ok()))
        })
        .collect();
    out.sort();
    out
}
