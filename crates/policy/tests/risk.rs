//! Behavioural risk scoring from each user's own history.

use seawall_policy::risk::{
    haversine_km, BehaviourTracker, RiskAssessment, RiskEngine, RiskReason, RiskSettings, Sighting,
};

const LONDON: (f64, f64) = (51.5074, -0.1278);
const PARIS: (f64, f64) = (48.8566, 2.3522);
const SYDNEY: (f64, f64) = (-33.8688, 151.2093);

// 2024-07-01T00:00:00Z.
const DAY0: i64 = 1_719_792_000;

fn tracker() -> BehaviourTracker {
    BehaviourTracker::new(RiskEngine::new(RiskSettings::default()), 1000)
}

fn at(now: i64, country: &'static str, location: (f64, f64)) -> Sighting<'static> {
    Sighting {
        now,
        country: Some(country),
        location: Some(location),
    }
}

#[test]
fn haversine_matches_known_distances() {
    let london_paris = haversine_km(LONDON, PARIS);
    assert!((340.0..346.0).contains(&london_paris), "{london_paris}");
    let london_sydney = haversine_km(LONDON, SYDNEY);
    assert!(
        (16_950.0..17_050.0).contains(&london_sydney),
        "{london_sydney}"
    );
    assert_eq!(haversine_km(PARIS, PARIS), 0.0);
}

#[test]
fn first_sighting_of_a_user_is_not_risky() {
    let mut t = tracker();
    assert_eq!(
        t.observe("alice", &at(DAY0, "GB", LONDON)),
        RiskAssessment::default()
    );
}

#[test]
fn new_country_is_flagged_once() {
    let mut t = tracker();
    t.observe("alice", &at(DAY0, "GB", LONDON));
    // Paris a day later: plausible travel, but a country never seen.
    let r = t.observe("alice", &at(DAY0 + 86_400, "FR", PARIS));
    assert_eq!(r.reasons, [RiskReason::NewCountry]);
    assert_eq!(r.score, 40);
    let again = t.observe("alice", &at(DAY0 + 86_500, "FR", PARIS));
    assert!(again.reasons.is_empty());
}

#[test]
fn impossible_travel_is_flagged_and_scores_past_the_default_limit() {
    let mut t = tracker();
    t.observe("alice", &at(DAY0, "GB", LONDON));
    // Sydney an hour later: 17,000 km/h.
    let r = t.observe("alice", &at(DAY0 + 3600, "AU", SYDNEY));
    assert_eq!(
        r.reasons,
        [RiskReason::NewCountry, RiskReason::ImpossibleTravel]
    );
    assert_eq!(r.score, 100);
}

#[test]
fn plausible_travel_is_not_flagged() {
    let mut t = tracker();
    t.observe("bob", &at(DAY0, "GB", LONDON));
    // 344 km in a minute is impossible.
    let r = t.observe("bob", &at(DAY0 + 60, "FR", PARIS));
    assert!(r.reasons.contains(&RiskReason::ImpossibleTravel), "{r:?}");
    // London to Paris in 2 hours is 172 km/h: fine.
    let mut t2 = tracker();
    t2.observe("bob", &at(DAY0, "FR", LONDON));
    let r = t2.observe("bob", &at(DAY0 + 7200, "FR", PARIS));
    assert!(!r.reasons.contains(&RiskReason::ImpossibleTravel), "{r:?}");
}

#[test]
fn travel_limit_comes_from_settings() {
    let slow = RiskSettings {
        max_travel_kmh: 100.0,
        ..RiskSettings::default()
    };
    let mut t = BehaviourTracker::new(RiskEngine::new(slow), 10);
    t.observe("bob", &at(DAY0, "FR", LONDON));
    let r = t.observe("bob", &at(DAY0 + 7200, "FR", PARIS));
    assert_eq!(r.reasons, [RiskReason::ImpossibleTravel]);
}

#[test]
fn short_hops_are_within_geolocation_error() {
    let mut t = tracker();
    t.observe("carol", &at(DAY0, "FR", PARIS));
    // 50 km in one second is below the 100 km floor.
    let r = t.observe("carol", &at(DAY0 + 1, "FR", (48.4, 2.3)));
    assert!(r.reasons.is_empty(), "{r:?}");
}

#[test]
fn unusual_hour_needs_history_then_flags_rare_hours() {
    let mut t = tracker();
    // Active 09:00-10:00 UTC on 25 days.
    for day in 0..25 {
        let r = t.observe("dave", &at(DAY0 + day * 86_400 + 9 * 3600, "FR", PARIS));
        assert!(!r.reasons.contains(&RiskReason::UnusualHour), "day {day}");
    }
    let usual = t.observe("dave", &at(DAY0 + 30 * 86_400 + 9 * 3600 + 60, "FR", PARIS));
    assert!(usual.reasons.is_empty(), "{usual:?}");
    let r = t.observe("dave", &at(DAY0 + 31 * 86_400 + 3 * 3600, "FR", PARIS));
    assert_eq!(r.reasons, [RiskReason::UnusualHour]);
    assert_eq!(r.score, 20);

    // With too little history, no hour is unusual.
    let mut fresh = tracker();
    for day in 0..5 {
        fresh.observe("erin", &at(DAY0 + day * 86_400 + 9 * 3600, "FR", PARIS));
    }
    let r = fresh.observe("erin", &at(DAY0 + 6 * 86_400 + 3 * 3600, "FR", PARIS));
    assert!(r.reasons.is_empty());
}

#[test]
fn request_burst_far_above_baseline_is_flagged() {
    let mut t = tracker();
    let start = DAY0 + 9 * 3600;
    // Ten minutes of 20 requests a minute.
    for minute in 0..10 {
        for i in 0..20 {
            let r = t.observe("frank", &at(start + minute * 60 + i, "FR", PARIS));
            assert!(r.reasons.is_empty(), "minute {minute} request {i}: {r:?}");
        }
    }
    // Then 250 in one minute: 10 x 20 = 200 is the limit.
    let burst = start + 10 * 60;
    let mut flagged_at = None;
    for i in 0..250 {
        let r = t.observe("frank", &at(burst + i / 5, "FR", PARIS));
        if r.reasons.contains(&RiskReason::RequestRate) {
            flagged_at.get_or_insert(i + 1);
        }
    }
    assert_eq!(flagged_at, Some(201));
}

#[test]
fn low_baseline_does_not_flag_an_ordinary_page_load() {
    let mut t = tracker();
    let start = DAY0 + 9 * 3600;
    for minute in 0..10 {
        t.observe("gina", &at(start + minute * 60, "FR", PARIS));
    }
    // Baseline 1/minute, floored at 10: up to 100 requests in a minute are fine.
    for i in 0..100 {
        let r = t.observe("gina", &at(start + 600 + i / 2, "FR", PARIS));
        assert!(r.reasons.is_empty(), "request {i}: {r:?}");
    }
    let r = t.observe("gina", &at(start + 659, "FR", PARIS));
    assert_eq!(r.reasons, [RiskReason::RequestRate]);
}

#[test]
fn users_are_scored_against_their_own_history_only() {
    let mut t = tracker();
    t.observe("alice", &at(DAY0, "GB", LONDON));
    t.observe("bob", &at(DAY0, "AU", SYDNEY));
    let r = t.observe("bob", &at(DAY0 + 60, "AU", SYDNEY));
    assert!(r.reasons.is_empty());
}

#[test]
fn unknown_country_and_location_are_not_signals() {
    let mut t = tracker();
    t.observe("hal", &at(DAY0, "GB", LONDON));
    let r = t.observe(
        "hal",
        &Sighting {
            now: DAY0 + 1,
            country: None,
            location: None,
        },
    );
    assert!(r.reasons.is_empty());
}

#[test]
fn assessment_is_deterministic_given_the_same_inputs() {
    let run = || {
        let mut t = tracker();
        let mut out = Vec::new();
        for i in 0..200i64 {
            let (country, place) = if i % 7 == 0 {
                ("AU", SYDNEY)
            } else {
                ("GB", LONDON)
            };
            out.push(t.observe("ivy", &at(DAY0 + i * 1800, country, place)));
        }
        out
    };
    assert_eq!(run(), run());
}

#[test]
fn tracker_is_bounded_forgetting_the_least_recently_seen() {
    let mut t = BehaviourTracker::new(RiskEngine::default(), 100);
    for i in 0..250i64 {
        t.observe(&format!("user-{i}"), &at(DAY0 + i, "FR", PARIS));
    }
    assert!(t.len() <= 100, "{}", t.len());
    assert!(t.history("user-249").is_some());
    assert!(t.history("user-0").is_none());
}

#[test]
fn state_survives_a_json_round_trip() {
    let mut t = tracker();
    t.observe("alice", &at(DAY0, "GB", LONDON));
    let json = t.to_json();
    let mut restored = BehaviourTracker::from_json(RiskEngine::default(), 1000, &json).unwrap();
    assert_eq!(restored.history("alice"), t.history("alice"));
    // The restored history still knows alice was in London an hour ago.
    let r = restored.observe("alice", &at(DAY0 + 3600, "AU", SYDNEY));
    assert_eq!(r.score, 100);
}

#[test]
fn malformed_state_is_refused() {
    for json in [
        "",
        "{",
        "[]",
        r#"{"version":1}"#,
        r#"{"version":1,"users":{"a":{"hours":[1]}}}"#,
    ] {
        assert!(
            BehaviourTracker::from_json(RiskEngine::default(), 10, json).is_err(),
            "{json}"
        );
    }
    let ok = r#"{"version":1,"users":{"a":{}}}"#;
    assert_eq!(
        BehaviourTracker::from_json(RiskEngine::default(), 10, ok)
            .unwrap()
            .len(),
        1
    );
}
