//! One request in, one [`Decision`] out.
//!
//! This runs on every request the gateway proxies, so it builds the smallest Cedar request that
//! can be decided: the user (a member of only the groups that policies mention), the route, the
//! method's action and the context record. Nothing is parsed here; entity type names and action
//! entities are built once per process.
//!
//! How Cedar's answer becomes a [`Decision`], in order:
//! 1. a method that is not an action of the schema is denied (`bad_method`);
//! 2. a satisfied forbid policy without `@step_up("true")` denies, with its `@reason`;
//! 3. a policy that failed to evaluate denies (`policy_error`), even if a permit was satisfied:
//!    the failed policy might have been a forbid;
//! 4. satisfied forbid policies that are all `@step_up("true")` ask for a fresh second factor;
//! 5. a satisfied permit policy allows;
//! 6. otherwise the request is denied (`no_permit`).

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::LazyLock;

use cedar_policy::{
    AuthorizationError, Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicyId, PolicySet, Request, RestrictedExpression,
};
use serde::Serialize;

use crate::clock::Zone;
use crate::device::DeviceFacts;
use crate::risk::RiskAssessment;
use crate::schema::{self, METHODS};

/// The reason ids a [`Decision`] may carry besides a forbid policy's own `@reason`.
pub mod reason {
    /// A permit policy allowed the request.
    pub const ALLOWED: &str = "allowed";
    /// No permit policy applied (default deny).
    pub const NO_PERMIT: &str = "no_permit";
    /// The HTTP method is not one of the schema's actions.
    pub const BAD_METHOD: &str = "bad_method";
    /// A policy failed to evaluate, so the request is denied (fail closed).
    pub const POLICY_ERROR: &str = "policy_error";
    /// A forbid policy without `@reason` denied the request.
    pub const FORBIDDEN: &str = "forbidden";
    /// A `@step_up` forbid policy without `@reason` asked for a fresh second factor.
    pub const STEP_UP: &str = "step_up";
    /// The request could not be turned into a Cedar request (for example a time out of range).
    pub const BAD_REQUEST: &str = "bad_request";
}

/// The value of `mfa_age` when the session never completed a second factor: about 31 years,
/// larger than any sensible freshness limit, and far from overflowing Cedar arithmetic.
pub const MFA_AGE_NEVER: i64 = 1_000_000_000;

/// Everything the gateway knows about one request.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The signed-in user's name: the principal `User::"<user>"`.
    pub user: &'a str,
    /// The user's groups. Only those in [`groups_mentioned`] are used.
    ///
    /// [`groups_mentioned`]: crate::PolicyEngine::groups_mentioned
    pub groups: &'a [String],
    /// The HTTP method, as sent (`GET`); the action `Action::"GET"`.
    pub method: &'a str,
    /// The route's configured name: the resource `Route::"<route>"`.
    pub route: &'a str,
    /// The request's host (without port).
    pub host: &'a str,
    /// The request's path (without query).
    pub path: &'a str,
    /// The client address.
    pub ip: IpAddr,
    /// The client's ISO 3166-1 alpha-2 country, when known.
    pub country: Option<&'a str>,
    /// The time of the request, in seconds since the Unix epoch.
    pub now: i64,
    /// When the session last completed a second factor, in seconds since the Unix epoch.
    pub mfa_time: Option<i64>,
    /// The device making the request.
    pub device: &'a DeviceFacts,
    /// The behavioural risk of the request.
    pub risk: &'a RiskAssessment,
}

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Forward it upstream.
    Allow,
    /// Refuse it (403).
    Deny,
    /// Ask the user to complete the second factor again, then retry.
    StepUp,
}

/// A policy that failed to evaluate for this request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvaluationError {
    /// The policy's id.
    pub policy_id: String,
    /// What went wrong, one line.
    pub message: String,
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// What to do.
    pub outcome: Outcome,
    /// The ids of the policies that determined the outcome, sorted: the satisfied permits for
    /// an allow, the satisfied forbids (or the failed policies) for a deny or step-up; empty for
    /// `no_permit` and `bad_method`.
    pub policy_ids: Vec<String>,
    /// A short id of why: a forbid policy's `@reason`, or one of [`reason`].
    pub reason: String,
    /// The policies that failed to evaluate. Not empty means the outcome is not `Allow`.
    pub errors: Vec<EvaluationError>,
}

impl Decision {
    fn new(outcome: Outcome, policy_ids: Vec<String>, reason: &str) -> Self {
        Self {
            outcome,
            policy_ids,
            reason: reason.to_owned(),
            errors: Vec::new(),
        }
    }

    /// Whether the request may go upstream.
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }
}

/// Entity type names and action entities, built once per process.
struct Prebuilt {
    user: EntityTypeName,
    group: EntityTypeName,
    route: EntityTypeName,
    /// Each method's action entity, a member of `Action::"read"` or `Action::"write"`.
    actions: HashMap<&'static str, Entity>,
}

static PREBUILT: LazyLock<Prebuilt> = LazyLock::new(|| {
    let action_type = schema::type_name("Action");
    let action =
        |id: &str| EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(id));
    let actions = METHODS
        .iter()
        .map(|&method| {
            let parents: HashSet<EntityUid> = match method {
                "GET" | "HEAD" | "OPTIONS" => [action("read")].into(),
                "POST" | "PUT" | "PATCH" | "DELETE" => [action("write")].into(),
                _ => HashSet::new(),
            };
            (method, Entity::new_no_attrs(action(method), parents))
        })
        .collect();
    Prebuilt {
        user: schema::type_name(schema::USER),
        group: schema::type_name(schema::GROUP),
        route: schema::type_name(schema::ROUTE),
        actions,
    }
});

/// Decides `facts` against `policies`; see the module documentation for the rules.
pub(crate) fn decide(
    authorizer: &Authorizer,
    policies: &PolicySet,
    groups: &BTreeSet<String>,
    zone: &Zone,
    facts: &RequestFacts<'_>,
) -> Decision {
    let prebuilt = &*PREBUILT;
    let Some(action) = prebuilt.actions.get(facts.method) else {
        return Decision::new(Outcome::Deny, Vec::new(), reason::BAD_METHOD);
    };
    let Some((request, entities)) = cedar_request(prebuilt, action, groups, zone, facts) else {
        return Decision::new(Outcome::Deny, Vec::new(), reason::BAD_REQUEST);
    };
    let response = authorizer.is_authorized(&request, policies, &entities);
    let diagnostics = response.diagnostics();

    let mut errors: Vec<EvaluationError> = diagnostics
        .errors()
        .map(|e| match e {
            AuthorizationError::PolicyEvaluationError(e) => EvaluationError {
                policy_id: e.policy_id().to_string(),
                message: e.inner().to_string(),
            },
        })
        .collect();
    errors.sort_by(|a, b| a.policy_id.cmp(&b.policy_id));
    let mut determining: Vec<&PolicyId> = diagnostics.reason().collect();
    determining.sort();
    let mut decision = outcome(policies, &determining, &errors, response.decision());
    decision.errors = errors;
    decision
}

/// Applies the rules of the module documentation to Cedar's answer.
fn outcome(
    policies: &PolicySet,
    determining: &[&PolicyId],
    errors: &[EvaluationError],
    cedar: cedar_policy::Decision,
) -> Decision {
    let ids = |list: &[&PolicyId]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
    let annotation = |id: &PolicyId, key: &str| policies.annotation(id, key);
    let is_step_up = |id: &&PolicyId| annotation(id, "step_up") == Some("true");

    // Cedar's reasons for a deny are the satisfied forbids; for an allow, the satisfied permits.
    if cedar == cedar_policy::Decision::Deny && !determining.is_empty() {
        if let Some(hard) = determining.iter().find(|id| !is_step_up(id)) {
            let why = annotation(hard, "reason").unwrap_or(reason::FORBIDDEN);
            return Decision::new(Outcome::Deny, ids(determining), why);
        }
        if errors.is_empty() {
            let first = determining.first().and_then(|id| annotation(id, "reason"));
            return Decision::new(
                Outcome::StepUp,
                ids(determining),
                first.unwrap_or(reason::STEP_UP),
            );
        }
    }
    if !errors.is_empty() {
        let failed = errors.iter().map(|e| e.policy_id.clone()).collect();
        return Decision::new(Outcome::Deny, failed, reason::POLICY_ERROR);
    }
    match cedar {
        cedar_policy::Decision::Allow => {
            Decision::new(Outcome::Allow, ids(determining), reason::ALLOWED)
        }
        cedar_policy::Decision::Deny => Decision::new(Outcome::Deny, Vec::new(), reason::NO_PERMIT),
    }
}

/// The Cedar request and entities for `facts`, or `None` if they cannot be built.
fn cedar_request(
    prebuilt: &Prebuilt,
    action: &Entity,
    groups: &BTreeSet<String>,
    zone: &Zone,
    facts: &RequestFacts<'_>,
) -> Option<(Request, Entities)> {
    let user_uid =
        EntityUid::from_type_name_and_id(prebuilt.user.clone(), EntityId::new(facts.user));
    let route_uid =
        EntityUid::from_type_name_and_id(prebuilt.route.clone(), EntityId::new(facts.route));

    // Group entities themselves are not needed: `in` follows the user's parents.
    let parents = facts
        .groups
        .iter()
        .filter(|g| groups.contains(g.as_str()))
        .map(|g| EntityUid::from_type_name_and_id(prebuilt.group.clone(), EntityId::new(g)))
        .collect();
    let user = Entity::new_no_attrs(user_uid.clone(), parents);
    let route_attrs = HashMap::from([
        ("name".to_owned(), string(facts.route)),
        ("host".to_owned(), string(facts.host)),
        ("path".to_owned(), string(facts.path)),
    ]);
    let route = Entity::new(route_uid.clone(), route_attrs, HashSet::new()).ok()?;
    let entities = Entities::from_entities([user, route, action.clone()], None).ok()?;

    let context = context(zone, facts)?;
    let request = Request::new(user_uid, action.uid(), route_uid, context, None).ok()?;
    Some((request, entities))
}

/// The context record; see the schema's `RequestContext`.
fn context(zone: &Zone, facts: &RequestFacts<'_>) -> Option<Context> {
    let local = zone.local_time(facts.now)?;
    let mfa_age = facts.mfa_time.map_or(MFA_AGE_NEVER, |t| {
        facts.now.saturating_sub(t).clamp(0, MFA_AGE_NEVER)
    });
    let device = RestrictedExpression::new_record([
        (
            "id".to_owned(),
            string(facts.device.id.as_deref().unwrap_or("")),
        ),
        ("posture".to_owned(), string(facts.device.posture.as_str())),
        ("source".to_owned(), string(facts.device.source.as_str())),
    ])
    .ok()?;
    let reasons = facts.risk.reasons.iter().map(|r| string(r.as_str()));
    let risk = RestrictedExpression::new_record([
        (
            "score".to_owned(),
            RestrictedExpression::new_long(i64::from(facts.risk.score)),
        ),
        ("reasons".to_owned(), RestrictedExpression::new_set(reasons)),
    ])
    .ok()?;
    Context::from_pairs([
        ("ip".to_owned(), ip_expression(facts.ip)),
        ("country".to_owned(), string(facts.country.unwrap_or("ZZ"))),
        (
            "hour".to_owned(),
            RestrictedExpression::new_long(i64::from(local.hour)),
        ),
        ("weekday".to_owned(), string(local.weekday)),
        (
            "mfa_age".to_owned(),
            RestrictedExpression::new_long(mfa_age),
        ),
        ("device".to_owned(), device),
        ("risk".to_owned(), risk),
    ])
    .ok()
}

/// The Cedar `ip("...")` value of `ip`.
///
/// Cedar builds the extension function's name by parsing `"ip"` on every call, which is most of
/// the cost of a context (about 12 µs of 40 µs measured), so recent addresses are kept per
/// thread. Clients send many requests in a row, so most lookups hit. The cache is emptied when
/// full, which bounds its memory without the bookkeeping of an LRU.
fn ip_expression(ip: IpAddr) -> RestrictedExpression {
    const CAPACITY: usize = 4096;
    thread_local! {
        static CACHE: RefCell<HashMap<IpAddr, RestrictedExpression>> =
            RefCell::new(HashMap::new());
    }
    CACHE.with_borrow_mut(|cache| {
        if let Some(expr) = cache.get(&ip) {
            return expr.clone();
        }
        if cache.len() >= CAPACITY {
            cache.clear();
        }
        let expr = RestrictedExpression::new_ip(ip.to_string());
        cache.insert(ip, expr.clone());
        expr
    })
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}
