//! [`PolicyAuthorizer`]: the Cedar policy engine with its context signals, as the gateway's
//! [`Authorize`], and [`watch_policy_dir`], which reloads the policies when their files change.
//!
//! For each request it resolves the client's country (geo database or CIDR table), the device
//! (a verified mTLS certificate, else a signed posture assertion, else unknown) and the
//! behavioural risk (this user's own history), then asks the policy engine.
//!
//! The engine is pure: the same facts give the same decision. Its facts change at most once a
//! second (the clock is read in whole seconds, and the time-of-day and MFA-age attributes derive
//! from it), so decisions are memoised for the current second under the complete set of facts
//! as key. This keeps a Cedar evaluation (tens of microseconds) off most requests of a busy
//! client without ever answering from facts that differ in any way.

use crate::access::{AccessDecision, AccessRequest, Authorize, ContextSummary, Verdict};
use arc_swap::ArcSwap;
use seawall_policy::device::{device_from_certificate, PostureVerifier};
use seawall_policy::geo::GeoResolver;
use seawall_policy::risk::{BehaviourTracker, Sighting};
use seawall_policy::{Decision, DeviceFacts, Outcome, PolicyEngine, RequestFacts, Zone};
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The policy engine and the signals it decides with. Its policies can be swapped while
/// requests are being decided.
pub struct PolicyAuthorizer {
    engine: ArcSwap<Current>,
    generations: AtomicU64,
    memo: Mutex<Memo>,
    groups: ArcSwap<BTreeSet<String>>,
    zone: Zone,
    geo: GeoResolver,
    posture: PostureVerifier,
    tracker: Mutex<BehaviourTracker>,
}

impl std::fmt::Debug for PolicyAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyAuthorizer")
            .field("policies", &self.engine.load().engine.policy_count())
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
            engine: ArcSwap::from_pointee(Current {
                engine: Arc::new(engine),
                generation: 0,
            }),
            zone,
            geo,
            posture,
            tracker: Mutex::new(tracker),
            generations: AtomicU64::new(0),
            memo: Mutex::new(Memo::default()),
        }
    }

    /// Replaces the policies; decisions already under way finish with the old ones.
    pub fn set_engine(&self, engine: PolicyEngine) {
        let engine = engine.with_zone(self.zone.clone());
        self.groups
            .store(Arc::new(engine.groups_mentioned().clone()));
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        self.engine.store(Arc::new(Current {
            engine: Arc::new(engine),
            generation,
        }));
        if let Ok(mut memo) = self.memo.lock() {
            memo.clear();
        }
    }

    /// The policies in force.
    pub fn engine(&self) -> Arc<PolicyEngine> {
        self.engine.load().engine.clone()
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
        let current = self.engine.load();
        let key = memo_key(&facts);
        let generation = current.generation;
        let remembered = self
            .memo
            .lock()
            .ok()
            .and_then(|m| m.get(request.now, generation, &key));
        let decision = match remembered {
            Some(d) => d,
            None => {
                let d = Arc::new(current.engine.decide(&facts));
                if let Ok(mut m) = self.memo.lock() {
                    m.put(request.now, generation, key, d.clone());
                }
                d
            }
        };
        let decision = Decision::clone(&decision);
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

/// The policies in force, numbered so that decisions of older ones are never reused.
struct Current {
    engine: Arc<PolicyEngine>,
    generation: u64,
}

/// Most decisions remembered within one second.
const MEMO_CAPACITY: usize = 4096;

/// Decisions of the current second, keyed by every fact they were made from.
#[derive(Default)]
struct Memo {
    second: i64,
    generation: u64,
    decisions: HashMap<Vec<u8>, Arc<Decision>>,
}

impl Memo {
    fn get(&self, now: i64, generation: u64, key: &[u8]) -> Option<Arc<Decision>> {
        if self.second != now || self.generation != generation {
            return None;
        }
        self.decisions.get(key).cloned()
    }

    fn put(&mut self, now: i64, generation: u64, key: Vec<u8>, decision: Arc<Decision>) {
        if self.second != now
            || self.generation != generation
            || self.decisions.len() >= MEMO_CAPACITY
        {
            self.decisions.clear();
            self.second = now;
            self.generation = generation;
        }
        self.decisions.insert(key, decision);
    }

    fn clear(&mut self) {
        self.decisions.clear();
    }
}

/// Every fact of `facts`, each length-prefixed so that no two fact sets share a key.
fn memo_key(facts: &RequestFacts<'_>) -> Vec<u8> {
    let mut key = Vec::with_capacity(256);
    let mut put = |bytes: &[u8]| {
        key.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        key.extend_from_slice(bytes);
    };
    put(facts.user.as_bytes());
    for g in facts.groups {
        put(g.as_bytes());
    }
    put(b"|");
    put(facts.method.as_bytes());
    put(facts.route.as_bytes());
    put(facts.host.as_bytes());
    put(facts.path.as_bytes());
    match facts.ip {
        std::net::IpAddr::V4(v4) => put(&v4.octets()),
        std::net::IpAddr::V6(v6) => put(&v6.octets()),
    }
    put(facts.country.unwrap_or("\0").as_bytes());
    put(&facts.now.to_le_bytes());
    put(&facts.mfa_time.unwrap_or(i64::MIN).to_le_bytes());
    put(facts.device.id.as_deref().unwrap_or("\0").as_bytes());
    put(facts.device.posture.as_str().as_bytes());
    put(facts.device.source.as_str().as_bytes());
    put(&[facts.risk.score]);
    for r in &facts.risk.reasons {
        put(r.as_str().as_bytes());
    }
    key
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

#[cfg(test)]
mod tests {
    use super::*;
    use seawall_core::auth::Principal;
    use seawall_core::ids::UserId;

    fn authorizer(policy: &str) -> PolicyAuthorizer {
        PolicyAuthorizer::new(
            PolicyEngine::from_sources([("t.cedar", policy)]).unwrap(),
            Zone::utc(),
            GeoResolver::from_cidr(&Default::default()).unwrap(),
            PostureVerifier::default(),
            BehaviourTracker::new(seawall_policy::risk::RiskEngine::default(), 10),
        )
    }

    fn principal(mfa_time: i64) -> Principal {
        Principal {
            user_id: UserId::from_stored("usr_a"),
            username: "a".into(),
            groups: vec!["eng".into()],
            amr: vec![],
            auth_time: mfa_time,
            mfa_time,
            session_id: None,
            token_id: "t".into(),
            issued_at: 0,
            expires_at: i64::MAX,
        }
    }

    fn decide(a: &PolicyAuthorizer, p: &Principal, path: &str, now: i64) -> Verdict {
        a.decide(&AccessRequest {
            principal: p,
            method: "GET",
            route: "r",
            host: "h",
            path,
            ip: "192.0.2.1".parse().unwrap(),
            now,
            device_cert: None,
            posture_assertion: None,
        })
        .verdict
    }

    #[test]
    fn memoised_decisions_never_cross_a_change_of_facts_time_or_policies() {
        let a = authorizer(
            r#"permit (principal, action, resource) when { resource.path == "/ok" && context.mfa_age < 10 };"#,
        );
        let p = principal(1000);
        assert_eq!(decide(&a, &p, "/ok", 1005), Verdict::Allow);
        assert_eq!(decide(&a, &p, "/ok", 1005), Verdict::Allow);
        assert_eq!(decide(&a, &p, "/other", 1005), Verdict::Deny);
        // The same request a few seconds later: the MFA age has grown past the limit.
        assert_eq!(decide(&a, &p, "/ok", 1010), Verdict::Deny);
        a.set_engine(
            PolicyEngine::from_sources([("t.cedar", "forbid (principal, action, resource);")])
                .unwrap(),
        );
        assert_eq!(decide(&a, &p, "/ok", 1005), Verdict::Deny);
    }
}
