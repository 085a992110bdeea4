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
