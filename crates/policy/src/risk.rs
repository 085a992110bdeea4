//! Behavioural risk: how unlike this user's own history a request is.
//!
//! [`RiskEngine::assess`] is pure: a user's history and one sighting in, a [`RiskAssessment`]
//! out. [`BehaviourTracker`] keeps the histories in memory (bounded), assesses each sighting and
//! then records it, and can be saved to and restored from JSON.
//!
//! # Scoring
//!
//! Each signal adds a fixed weight; the score is the sum, capped at 100.
//!
//! | reason | weight | when |
//! | --- | --- | --- |
//! | `impossible_travel` | 60 | at least 100 km from the previous located sighting, faster than `risk.max_travel_kmh` |
//! | `new_country` | 40 | a country this user was never seen from, once the user has been seen from one |
//! | `request_rate` | 30 | more requests this minute than `risk.rate_factor` times the user's usual requests per active minute (at least 10), once 5 active minutes are known |
//! | `unusual_hour` | 20 | a UTC hour of day in which the user was active in under 2% of their active hours, once 20 active hours are known |
//!
//! So two strong signals (a new country reached impossibly fast: 100) pass the default policy's
//! `high_risk` limit of 80, and any one signal alone does not. Hours are UTC hours so that a
//! history does not shift with the configured policy time zone or with summer time.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// Weight of `impossible_travel`.
pub const WEIGHT_IMPOSSIBLE_TRAVEL: u8 = 60;
/// Weight of `new_country`.
pub const WEIGHT_NEW_COUNTRY: u8 = 40;
/// Weight of `request_rate`.
pub const WEIGHT_REQUEST_RATE: u8 = 30;
/// Weight of `unusual_hour`.
pub const WEIGHT_UNUSUAL_HOUR: u8 = 20;

/// Travel shorter than this is within the error of IP geolocation and never impossible.
const MIN_TRAVEL_KM: f64 = 100.0;
/// Active hours needed before `unusual_hour` is judged.
const MIN_ACTIVE_HOURS: u32 = 20;
/// Active minutes needed before `request_rate` is judged.
const MIN_ACTIVE_MINUTES: u32 = 5;
/// The smallest baseline, in requests per minute: one page load is already many requests.
const MIN_BASELINE_PER_MINUTE: f64 = 10.0;
/// Weight of the newest minute in the baseline's moving average.
const BASELINE_ALPHA: f64 = 0.1;
/// Countries remembered per user (the least recently seen is forgotten first).
const MAX_COUNTRIES: usize = 32;
/// Mean Earth radius, in km.
const EARTH_RADIUS_KM: f64 = 6371.0;

/// Why a request looks risky.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskReason {
    /// The user was never seen from this country.
    NewCountry,
    /// The user could not have travelled from the previous location in time.
    ImpossibleTravel,
    /// The user is rarely active at this hour.
    UnusualHour,
    /// The user sends far more requests than usual.
    RequestRate,
}

impl RiskReason {
    /// The reason as it appears in `context.risk.reasons`.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskReason::NewCountry => "new_country",
            RiskReason::ImpossibleTravel => "impossible_travel",
            RiskReason::UnusualHour => "unusual_hour",
            RiskReason::RequestRate => "request_rate",
        }
    }

    fn weight(self) -> u8 {
        match self {
            RiskReason::NewCountry => WEIGHT_NEW_COUNTRY,
            RiskReason::ImpossibleTravel => WEIGHT_IMPOSSIBLE_TRAVEL,
            RiskReason::UnusualHour => WEIGHT_UNUSUAL_HOUR,
            RiskReason::RequestRate => WEIGHT_REQUEST_RATE,
        }
    }
}

/// The `risk` context record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskAssessment {
    /// 0 to 100.
    pub score: u8,
    /// The signals that raised the score, in the order of [`RiskReason`].
    pub reasons: Vec<RiskReason>,
}

impl RiskAssessment {
    /// The assessment made of `reasons`: their weights summed, capped at 100.
    pub fn from_reasons(mut reasons: Vec<RiskReason>) -> Self {
        reasons.sort();
        reasons.dedup();
        let sum: u32 = reasons.iter().map(|r| u32::from(r.weight())).sum();
        Self {
            score: u8::try_from(sum.min(100)).unwrap_or(100),
            reasons,
        }
    }
}

/// One request or sign-in of a user, as the risk engine sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sighting<'a> {
    /// When, in seconds since the Unix epoch.
    pub now: i64,
    /// The ISO country, when known.
    pub country: Option<&'a str>,
    /// Latitude and longitude in degrees, when known (city databases).
    pub location: Option<(f64, f64)>,
}

/// Risk scoring settings (`risk.*` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskSettings {
    /// Fastest plausible travel between two sightings, km/h.
    pub max_travel_kmh: f64,
    /// A request rate this many times the user's baseline is unusual.
    pub rate_factor: f64,
}

impl Default for RiskSettings {
    fn default() -> Self {
        Self {
            max_travel_kmh: 1000.0,
            rate_factor: 10.0,
        }
    }
}

/// What is remembered about one user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserHistory {
    /// Countries seen, with when each was last seen.
    countries: BTreeMap<String, i64>,
    /// The last sighting with a location: when, latitude, longitude.
    last_located: Option<(i64, f64, f64)>,
    /// For each UTC hour of day, in how many distinct clock hours the user was active.
    hours: [u32; 24],
    /// The last clock hour (`now / 3600`) counted in `hours`.
    last_hour: i64,
    /// The current minute (`now / 60`) and its request count.
    minute: i64,
    minute_count: u32,
    /// Moving average of requests per active minute, and how many minutes it covers.
    baseline: f64,
    active_minutes: u32,
    /// The last sighting, for eviction.
    last_seen: i64,
}

impl UserHistory {
    /// Adds `sighting` to the history.
    pub fn record(&mut self, sighting: &Sighting<'_>) {
        let now = sighting.now;
        self.last_seen = now;
        if let Some(country) = sighting.country {
            self.countries.insert(country.to_owned(), now);
            if self.countries.len() > MAX_COUNTRIES {
                let oldest = self
                    .countries
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(c, _)| c.clone());
                if let Some(oldest) = oldest {
                    self.countries.remove(&oldest);
                }
            }
        }
        if let Some((lat, lon)) = sighting.location {
            self.last_located = Some((now, lat, lon));
        }
        let clock_hour = now.div_euclid(3600);
        if self.active_hours() == 0 || clock_hour != self.last_hour {
            self.last_hour = clock_hour;
            if let Some(count) = self.hours.get_mut(utc_hour(now)) {
                *count = count.saturating_add(1);
            }
        }
        self.count_request(now.div_euclid(60));
    }

    /// Counts one request in minute `minute`, folding a finished minute into the baseline.
    fn count_request(&mut self, minute: i64) {
        if minute != self.minute {
            if self.minute_count > 0 {
                let count = f64::from(self.minute_count);
                self.baseline = if self.active_minutes == 0 {
                    count
                } else {
                    BASELINE_ALPHA * count + (1.0 - BASELINE_ALPHA) * self.baseline
                };
                self.active_minutes = self.active_minutes.saturating_add(1);
            }
            self.minute = minute;
            self.minute_count = 0;
        }
        self.minute_count = self.minute_count.saturating_add(1);
    }

    fn active_hours(&self) -> u32 {
        self.hours.iter().fold(0u32, |a, b| a.saturating_add(*b))
    }

    /// Keeps a restored history within the bounds a recorded one has.
    fn sanitize(&mut self) {
        while self.countries.len() > MAX_COUNTRIES {
            self.countries.pop_first();
        }
        if !self.baseline.is_finite() || self.baseline < 0.0 {
            self.baseline = 0.0;
        }
        if let Some((_, lat, lon)) = self.last_located {
            if !(lat.is_finite() && lon.is_finite()) {
                self.last_located = None;
            }
        }
    }
}

/// Scores sightings against a user's history. Pure and deterministic.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RiskEngine {
    settings: RiskSettings,
}

impl RiskEngine {
    /// An engine with `settings`.
    pub fn new(settings: RiskSettings) -> Self {
        Self { settings }
    }

    /// How unusual `sighting` is for a user with `history` (`None`: never seen).
    pub fn assess(&self, history: Option<&UserHistory>, sighting: &Sighting<'_>) -> RiskAssessment {
        let Some(history) = history else {
            return RiskAssessment::default();
        };
        let mut reasons = Vec::new();
        if let Some(country) = sighting.country {
            if !history.countries.is_empty() && !history.countries.contains_key(country) {
                reasons.push(RiskReason::NewCountry);
            }
        }
        if self.impossible_travel(history, sighting) {
            reasons.push(RiskReason::ImpossibleTravel);
        }
        if unusual_hour(history, sighting.now) {
            reasons.push(RiskReason::UnusualHour);
        }
        if self.unusual_rate(history, sighting.now) {
            reasons.push(RiskReason::RequestRate);
        }
        RiskAssessment::from_reasons(reasons)
    }

    fn impossible_travel(&self, history: &UserHistory, sighting: &Sighting<'_>) -> bool {
        let (Some((then, lat0, lon0)), Some((lat1, lon1))) =
            (history.last_located, sighting.location)
        else {
            return false;
        };
        let km = haversine_km((lat0, lon0), (lat1, lon1));
        // A sighting in the same second counts as one second, so any real distance is too fast.
        let hours = (sighting.now.saturating_sub(then).max(1)) as f64 / 3600.0;
        km >= MIN_TRAVEL_KM && km / hours > self.settings.max_travel_kmh
    }

    fn unusual_rate(&self, history: &UserHistory, now: i64) -> bool {
        if history.active_minutes < MIN_ACTIVE_MINUTES {
            return false;
        }
        // This request plus those already counted in the same minute.
        let this_minute = if history.minute == now.div_euclid(60) {
            history.minute_count.saturating_add(1)
        } else {
            1
        };
        let baseline = history.baseline.max(MIN_BASELINE_PER_MINUTE);
        f64::from(this_minute) > self.settings.rate_factor * baseline
    }
}

fn unusual_hour(history: &UserHistory, now: i64) -> bool {
    let total = history.active_hours();
    if total < MIN_ACTIVE_HOURS {
        return false;
    }
    let here = history.hours.get(utc_hour(now)).copied().unwrap_or(0);
    // Under 2% of the active hours.
    u64::from(here) * 50 < u64::from(total)
}

fn utc_hour(now: i64) -> usize {
    usize::try_from(now.rem_euclid(86_400) / 3600).unwrap_or(0)
}

/// Great-circle distance between two (latitude, longitude) points in degrees, in km.
pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let d_lat = lat2 - lat1;
    let d_lon = (b.1 - a.1).to_radians();
    let h = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// A restored tracker state that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("behaviour state is not valid json: {0}")]
pub struct StateError(#[from] serde_json::Error);

/// Per-user histories, in memory and bounded, with the engine that scores them.
#[derive(Debug, Clone)]
pub struct BehaviourTracker {
    engine: RiskEngine,
    max_users: usize,
    users: HashMap<String, UserHistory>,
}

/// The saved form of a [`BehaviourTracker`].
#[derive(Serialize, Deserialize)]
struct SavedState {
    version: u32,
    users: BTreeMap<String, UserHistory>,
}

impl BehaviourTracker {
    /// The default bound on users remembered.
    pub const DEFAULT_MAX_USERS: usize = 100_000;

    /// An empty tracker remembering at most `max_users` users (the least recently seen are
    /// forgotten first).
    pub fn new(engine: RiskEngine, max_users: usize) -> Self {
        Self {
            engine,
            max_users: max_users.max(1),
            users: HashMap::new(),
        }
    }

    /// Assesses `sighting` of `user` against their history, then records it.
    pub fn observe(&mut self, user: &str, sighting: &Sighting<'_>) -> RiskAssessment {
        let assessment = self.engine.assess(self.users.get(user), sighting);
        match self.users.get_mut(user) {
            Some(history) => history.record(sighting),
            None => {
                let mut history = UserHistory::default();
                history.record(sighting);
                self.users.insert(user.to_owned(), history);
                self.evict();
            }
        }
        assessment
    }

    /// The history of `user`, if remembered.
    pub fn history(&self, user: &str) -> Option<&UserHistory> {
        self.users.get(user)
    }

    /// How many users are remembered.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether no user is remembered.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The state as JSON, to persist.
    pub fn to_json(&self) -> String {
        let saved = SavedState {
            version: 1,
            users: self
                .users
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        // Serializing plain structs with string keys and finite numbers cannot fail; an empty
        // state is the safe answer if it ever did.
        serde_json::to_string(&saved).unwrap_or_default()
    }

    /// A tracker restored from [`to_json`](Self::to_json) output.
    pub fn from_json(engine: RiskEngine, max_users: usize, json: &str) -> Result<Self, StateError> {
        let saved: SavedState = serde_json::from_str(json)?;
        let mut tracker = Self::new(engine, max_users);
        tracker.users = saved
            .users
            .into_iter()
            .map(|(user, mut history)| {
                history.sanitize();
                (user, history)
            })
            .collect();
        tracker.evict();
        Ok(tracker)
    }

    /// Forgets the least recently seen users when over the bound. A tenth of the bound is
    /// forgotten at once, so that the cost of sorting is paid rarely.
    fn evict(&mut self) {
        if self.users.len() <= self.max_users {
            return;
        }
        let keep = self.max_users - self.max_users / 10;
        let mut by_age: Vec<(i64, String)> = self
            .users
            .iter()
            .map(|(u, h)| (h.last_seen, u.clone()))
            .collect();
        by_age.sort();
        let forget = by_age.len().saturating_sub(keep);
        for (_, user) in by_age.into_iter().take(forget) {
            self.users.remove(&user);
        }
    }
}
