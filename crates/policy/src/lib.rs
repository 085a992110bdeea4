//! Seawall's authorization: Cedar policies over who asks, what and where, in what context.
//!
//! The gateway asks [`PolicyEngine::decide`] about every request. The principal is the
//! signed-in `User` (a member of its `Group`s), the action is the HTTP method
//! (`Action::"GET"`), the resource is the gateway `Route`, and the context carries the signals
//! gathered by the modules of this crate: the client's country ([`geo`]), the local time
//! ([`clock`]), the device and its posture ([`device`]), and the behavioural risk ([`risk`]).
//! The schema is [`schema::SCHEMA`]; `README.md` beside this crate documents it for policy
//! authors.
//!
//! Policies are `*.cedar` files in a directory. [`PolicyEngine::load_dir`] refuses a set with any
//! error, so that the caller keeps its last good set; [`check`] reports every problem with its
//! file, line and column for `seawall policy check`.
//!
//! Everything here is a pure engine: it returns data and does not log.
//!
//! Per request, the gateway: looks up the client address with [`geo::GeoResolver::lookup`];
//! scores it with [`risk::BehaviourTracker::observe`]; combines
//! [`device::device_from_certificate`] and [`device::PostureVerifier::verify`] with
//! [`DeviceFacts::resolve`]; then asks for the decision:
//!
//! ```
//! use seawall_policy::{default_policies, DeviceFacts, Outcome, PolicyEngine, RequestFacts};
//! use seawall_policy::{RiskAssessment, Zone};
//!
//! let engine = PolicyEngine::from_sources(default_policies().iter().copied())?
//!     .with_zone(Zone::named("Europe/Paris")?);
//! let groups = vec!["admins".to_string()];
//! let (device, risk) = (DeviceFacts::none(), RiskAssessment::default());
//! let decision = engine.decide(&RequestFacts {
//!     user: "alice",
//!     groups: &groups,
//!     method: "GET",
//!     route: "grafana",
//!     host: "grafana.example.test",
//!     path: "/d/overview",
//!     ip: "192.0.2.10".parse()?,
//!     country: Some("FR"),
//!     now: 1_719_837_000,
//!     mfa_time: Some(1_719_836_000),
//!     device: &device,
//!     risk: &risk,
//! });
//! assert_eq!(decision.outcome, Outcome::Allow);
//! assert_eq!(decision.policy_ids, ["admins-allow-all"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod clock;
mod decide;
pub mod device;
mod diagnostic;
mod engine;
pub mod geo;
mod load;
pub mod risk;
mod scan;
pub mod schema;

pub use clock::{Zone, ZoneError};
pub use decide::{reason, Decision, EvaluationError, Outcome, RequestFacts, MFA_AGE_NEVER};
pub use device::DeviceFacts;
pub use diagnostic::{Diagnostic, Severity};
pub use engine::{check, LoadError, PolicyEngine, MAX_POLICY_FILES};
pub use load::MAX_POLICY_FILE_BYTES;
pub use risk::RiskAssessment;

/// The policies `seawall up` starts with, as `(file name, text)`; see `README.md`.
pub fn default_policies() -> &'static [(&'static str, &'static str)] {
    &[
        ("00-admins.cedar", include_str!("defaults/00-admins.cedar")),
        ("10-demo.cedar", include_str!("defaults/10-demo.cedar")),
        ("90-guards.cedar", include_str!("defaults/90-guards.cedar")),
    ]
}
