//! A rough measure of what one decision costs, printed for the record (not asserted: timings
//! depend on the machine). Run with
//! `cargo test --release -p seawall-policy --test decide_cost -- --nocapture`.

use std::hint::black_box;
use std::time::Instant;

use seawall_policy::risk::{RiskAssessment, RiskReason};
use seawall_policy::{default_policies, DeviceFacts, Outcome, PolicyEngine, RequestFacts, Zone};

const ROUNDS: u32 = 20_000;

#[test]
fn measure_decision_cost_with_the_default_policies() {
    let started = Instant::now();
    let engine = PolicyEngine::from_sources(default_policies().iter().copied())
        .unwrap()
        .with_zone(Zone::named("Europe/Paris").unwrap());
    let load = started.elapsed();

    let groups: Vec<String> = ["staff", "admins", "eng", "oncall"]
        .map(String::from)
        .into();
    let device = DeviceFacts::none();
    let risk = RiskAssessment::from_reasons(vec![RiskReason::NewCountry]);
    let facts = RequestFacts {
        user: "alice@example.test",
        groups: &groups,
        method: "GET",
        route: "demo",
        host: "demo.example.test",
        path: "/admin/users/42",
        ip: "192.0.2.10".parse().unwrap(),
        country: Some("FR"),
        now: 1_719_837_000,
        mfa_time: Some(1_719_836_900),
        device: &device,
        risk: &risk,
    };
    assert_eq!(engine.decide(&facts).outcome, Outcome::Allow);

    let started = Instant::now();
    for _ in 0..ROUNDS {
        black_box(engine.decide(black_box(&facts)));
    }
    let per_decision = started.elapsed() / ROUNDS;
    println!(
        "policy load: {load:?}; decide: {per_decision:?} per decision over {ROUNDS} ({:.0}/s on one core)",
        1.0 / per_decision.as_secs_f64()
    );
}
