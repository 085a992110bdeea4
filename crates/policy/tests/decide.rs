//! Decisions of the policy engine on real Cedar policies.

use std::net::IpAddr;

use seawall_policy::device::{Posture, PostureSource};
use seawall_policy::risk::{RiskAssessment, RiskReason};
use seawall_policy::{
    default_policies, reason, DeviceFacts, Outcome, PolicyEngine, RequestFacts, Zone,
};

// 2024-07-01T12:30:00Z, a Monday.
const NOON_MONDAY: i64 = 1_719_837_000;

/// A request by `user` in `groups`, fresh MFA, no device, no risk.
struct Req {
    user: &'static str,
    groups: Vec<String>,
    method: &'static str,
    route: &'static str,
    path: &'static str,
    ip: IpAddr,
    country: Option<&'static str>,
    now: i64,
    mfa_time: Option<i64>,
    device: DeviceFacts,
    risk: RiskAssessment,
}

impl Req {
    fn new(user: &'static str, groups: &[&str], method: &'static str) -> Self {
        Self {
            user,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            method,
            route: "demo",
            path: "/",
            ip: "192.0.2.10".parse().unwrap(),
            country: Some("FR"),
            now: NOON_MONDAY,
            mfa_time: Some(NOON_MONDAY - 60),
            device: DeviceFacts::none(),
            risk: RiskAssessment::default(),
        }
    }

    fn facts(&self) -> RequestFacts<'_> {
        RequestFacts {
            user: self.user,
            groups: &self.groups,
            method: self.method,
            route: self.route,
            host: "demo.example.test",
            path: self.path,
            ip: self.ip,
            country: self.country,
            now: self.now,
            mfa_time: self.mfa_time,
            device: &self.device,
            risk: &self.risk,
        }
    }
}

fn engine(files: &[(&str, &str)]) -> PolicyEngine {
    match PolicyEngine::from_sources(files.iter().copied()) {
        Ok(engine) => engine,
        Err(e) => panic!("{e}"),
    }
}

fn defaults() -> PolicyEngine {
    engine(default_policies())
}

#[test]
fn default_policies_load_without_warnings() {
    let engine = defaults();
    assert!(engine.warnings().is_empty(), "{:?}", engine.warnings());
    assert_eq!(engine.policy_count(), 4);
}

#[test]
fn member_of_admins_is_allowed_anything() {
    let engine = defaults();
    let mut req = Req::new("alice", &["staff", "admins"], "DELETE");
    req.route = "billing";
    let d = engine.decide(&req.facts());
    assert_eq!(d.outcome, Outcome::Allow);
    assert_eq!(d.policy_ids, ["admins-allow-all"]);
    assert_eq!(d.reason, reason::ALLOWED);
}

#[test]
fn non_member_is_denied_by_default() {
    let engine = defaults();
    let mut req = Req::new("bob", &["staff"], "DELETE");
    req.route = "billing";
    let d = engine.decide(&req.facts());
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.reason, reason::NO_PERMIT);
    assert!(d.policy_ids.is_empty());
}

#[test]
fn any_user_may_read_but_not_write_the_demo_route() {
    let engine = defaults();
    for method in ["GET", "HEAD", "OPTIONS"] {
        let d = engine.decide(&Req::new("bob", &[], method).facts());
        assert_eq!(d.outcome, Outcome::Allow, "{method}");
        assert_eq!(d.policy_ids, ["demo-read"]);
    }
    for method in ["POST", "PUT", "PATCH", "DELETE", "CONNECT", "TRACE"] {
        let d = engine.decide(&Req::new("bob", &[], method).facts());
        assert_eq!(d.outcome, Outcome::Deny, "{method}");
    }
}

#[test]
fn unknown_method_is_denied_as_bad_method() {
    let engine = defaults();
    for method in ["get", "PROPFIND", "", "GET "] {
        let d = engine.decide(&Req::new("alice", &["admins"], method).facts());
        assert_eq!(d.outcome, Outcome::Deny);
        assert_eq!(d.reason, reason::BAD_METHOD);
    }
}

#[test]
fn high_risk_is_denied_even_for_admins() {
    let engine = defaults();
    let mut req = Req::new("alice", &["admins"], "GET");
    req.risk =
        RiskAssessment::from_reasons(vec![RiskReason::NewCountry, RiskReason::ImpossibleTravel]);
    let d = engine.decide(&req.facts());
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.reason, "high_risk");
    assert_eq!(d.policy_ids, ["deny-high-risk"]);

    // One signal alone stays under the limit.
    req.risk = RiskAssessment::from_reasons(vec![RiskReason::NewCountry]);
    assert_eq!(engine.decide(&req.facts()).outcome, Outcome::Allow);
}

#[test]
fn stale_mfa_on_admin_path_asks_for_step_up() {
    let engine = defaults();
    let mut req = Req::new("alice", &["admins"], "GET");
    req.path = "/admin/users";
    req.mfa_time = Some(NOON_MONDAY - 601);
    let d = engine.decide(&req.facts());
    assert_eq!(d.outcome, Outcome::StepUp);
    assert_eq!(d.reason, "stale_mfa");
    assert_eq!(d.policy_ids, ["admin-paths-fresh-mfa"]);

    // Fresh MFA: allowed. Never completed MFA: step up too.
    req.mfa_time = Some(NOON_MONDAY - 600);
    assert_eq!(engine.decide(&req.facts()).outcome, Outcome::Allow);
    req.mfa_time = None;
    assert_eq!(engine.decide(&req.facts()).outcome, Outcome::StepUp);
    // Other paths do not care about MFA age.
    req.path = "/administrators";
    assert_eq!(engine.decide(&req.facts()).outcome, Outcome::Allow);
}

#[test]
fn hard_forbid_wins_over_step_up() {
    let engine = defaults();
    let mut req = Req::new("alice", &["admins"], "GET");
    req.path = "/admin";
    req.mfa_time = None;
    req.risk =
        RiskAssessment::from_reasons(vec![RiskReason::NewCountry, RiskReason::ImpossibleTravel]);
    let d = engine.decide(&req.facts());
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.reason, "high_risk");
    assert_eq!(d.policy_ids, ["admin-paths-fresh-mfa", "deny-high-risk"]);
}

const COUNTRY_BLOCK: &str = r#"
@id("allow-staff")
permit (principal in Group::"staff", action, resource);

@id("embargo")
@reason("country_blocked")
forbid (principal, action, resource)
when { ["KP", "ZZ"].contains(context.country) };
"#;

#[test]
fn blocked_or_unknown_country_is_denied() {
    let engine = engine(&[("geo.cedar", COUNTRY_BLOCK)]);
    let mut req = Req::new("carol", &["staff"], "GET");
    assert_eq!(engine.decide(&req.facts()).outcome, Outcome::Allow);
    req.country = Some("KP");
    let d = engine.decide(&req.facts());
    assert_eq!(
        (d.outcome, d.reason.as_str()),
        (Outcome::Deny, "country_blocked")
    );
    req.country = None;
    assert_eq!(engine.decide(&req.facts()).reason, "country_blocked");
}

const DEVICE_REQUIRED: &str = r#"
@id("compliant-devices-only")
permit (principal, action, resource == Route::"payroll")
when { context.device.posture == "compliant" && context.device.source != "none" };
"#;

#[test]
fn unknown_device_is_refused_where_a_compliant_device_is_required() {
    let engine = engine(&[("device.cedar", DEVICE_REQUIRED)]);
    let mut req = Req::new("dave", &[], "GET");
    req.route = "payroll";
    let d = engine.decide(&req.facts());
    assert_eq!(
        (d.outcome, d.reason.as_str()),
        (Outcome::Deny, reason::NO_PERMIT)
    );

    req.device = DeviceFacts {
        id: Some("dev-1".into()),
        posture: Posture::Noncompliant,
        source: PostureSource::Agent,
    };
    assert_eq!(engine.decide(&req.facts()).outcome, Outcome::Deny);
    req.device.posture = Posture::Compliant;
    assert_eq!(engine.decide(&req.facts()).outcome, Outcome::Allow);
}

const ERRORING: &str = r#"
@id("allow-all")
permit (principal, action, resource);

// Validates (Long * Long is a Long) but overflows when the MFA is older than one second.
@id("overflows")
forbid (principal, action, resource)
when { context.mfa_age * 9223372036854775807 < 0 };
"#;

#[test]
fn policy_that_fails_to_evaluate_denies_and_is_reported() {
    let engine = engine(&[("err.cedar", ERRORING)]);
    let mut req = Req::new("erin", &[], "GET");
    let d = engine.decide(&req.facts());
    assert_eq!(
        d.outcome,
        Outcome::Deny,
        "a permit matched, but an error fails closed"
    );
    assert_eq!(d.reason, reason::POLICY_ERROR);
    assert_eq!(d.policy_ids, ["overflows"]);
    assert_eq!(d.errors.len(), 1);
    assert_eq!(d.errors[0].policy_id, "overflows");
    assert!(
        d.errors[0].message.contains("overflow"),
        "{}",
        d.errors[0].message
    );

    // When the multiplication does not overflow, the same set allows.
    req.mfa_time = Some(req.now);
    let d = engine.decide(&req.facts());
    assert_eq!(d.outcome, Outcome::Allow);
    assert!(d.errors.is_empty());
}

const HOURS: &str = r#"
@id("office-hours")
permit (principal, action, resource)
when {
  context.hour >= 9 && context.hour < 18 &&
  !["Sat", "Sun"].contains(context.weekday)
};
"#;

#[test]
fn hour_and_weekday_are_in_the_configured_zone() {
    let utc = engine(&[("hours.cedar", HOURS)]);
    // 2024-07-01 17:30 UTC is 19:30 in Paris: allowed in UTC, not in Paris.
    let mut req = Req::new("frank", &[], "GET");
    req.now = NOON_MONDAY + 5 * 3600;
    assert_eq!(utc.decide(&req.facts()).outcome, Outcome::Allow);
    let paris = utc.clone().with_zone(Zone::named("Europe/Paris").unwrap());
    assert_eq!(paris.decide(&req.facts()).outcome, Outcome::Deny);
    // Saturday noon.
    req.now = NOON_MONDAY + 5 * 86_400;
    assert_eq!(utc.decide(&req.facts()).outcome, Outcome::Deny);
}

const NETWORK: &str = r#"
@id("office-network")
permit (principal, action in Action::"write", resource)
when { context.ip.isInRange(ip("192.0.2.0/24")) && resource.host == "demo.example.test" };
"#;

#[test]
fn ip_ranges_and_action_groups_work_in_policies() {
    let engine = engine(&[("net.cedar", NETWORK)]);
    let mut req = Req::new("gina", &[], "POST");
    assert_eq!(engine.decide(&req.facts()).outcome, Outcome::Allow);
    req.ip = "2001:db8::1".parse().unwrap();
    assert_eq!(engine.decide(&req.facts()).outcome, Outcome::Deny);
    req.ip = "192.0.2.99".parse().unwrap();
    req.method = "GET";
    assert_eq!(engine.decide(&req.facts()).outcome, Outcome::Deny);
}

#[test]
fn groups_mentioned_lists_every_group_literal() {
    let text = r#"
        permit (principal in Group::"admins", action, resource);
        permit (principal, action, resource) when { principal in [Group::"sre", Group::"ops"] };
        forbid (principal == User::"mallory", action, resource);
    "#;
    let engine = engine(&[("g.cedar", text), ("d.cedar", default_policies()[0].1)]);
    let groups: Vec<&str> = engine
        .groups_mentioned()
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(groups, ["admins", "ops", "sre"]);
}

#[test]
fn groups_not_mentioned_do_not_change_decisions() {
    let engine = defaults();
    let many: Vec<String> = (0..1000).map(|i| format!("group-{i}")).collect();
    let mut req = Req::new("alice", &[], "DELETE");
    req.groups = many;
    assert_eq!(engine.decide(&req.facts()).outcome, Outcome::Deny);
    req.groups.push("admins".into());
    assert_eq!(engine.decide(&req.facts()).outcome, Outcome::Allow);
}

#[test]
fn policies_without_id_are_named_by_file_and_index() {
    let text = "permit (principal, action, resource == Route::\"a\");\n\
                permit (principal, action, resource == Route::\"demo\");";
    let engine = engine(&[("plain.cedar", text)]);
    let d = engine.decide(&Req::new("x", &[], "GET").facts());
    assert_eq!(d.policy_ids, ["plain.cedar:1"]);
}

#[test]
fn empty_policy_set_denies_everything() {
    let engine = engine(&[]);
    let d = engine.decide(&Req::new("alice", &["admins"], "GET").facts());
    assert_eq!(
        (d.outcome, d.reason.as_str()),
        (Outcome::Deny, reason::NO_PERMIT)
    );
}

#[test]
fn user_and_route_names_with_quotes_are_data_not_syntax() {
    let text = r#"permit (principal == User::"a\"b", action, resource == Route::"r\"s");"#;
    let engine = engine(&[("q.cedar", text)]);
    let mut req = Req::new("a\"b", &[], "GET");
    req.route = "r\"s";
    assert_eq!(engine.decide(&req.facts()).outcome, Outcome::Allow);
    req.user = "a";
    assert_eq!(engine.decide(&req.facts()).outcome, Outcome::Deny);
}

#[test]
fn load_dir_reads_only_cedar_files_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in default_policies() {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), "not cedar at all").unwrap();
    let engine = PolicyEngine::load_dir(dir.path()).unwrap();
    assert_eq!(engine.policy_count(), 4);

    // One bad file refuses the whole set.
    std::fs::write(
        dir.path().join("50-bad.cedar"),
        "permit (principal, action, resource)",
    )
    .unwrap();
    let err = PolicyEngine::load_dir(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("1 error(s) in the policy set, the first: 50-bad.cedar:1:"),
        "{err}"
    );
}

#[test]
fn missing_directory_is_a_read_error() {
    let err = PolicyEngine::load_dir(std::path::Path::new("/nonexistent/policies")).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("cannot read policy directory `/nonexistent/policies`"));
}
