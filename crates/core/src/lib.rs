//! Seawall's shared model, used by every other crate.
//!
//! This crate holds what the domains agree on and nothing they own: identifiers, the clock,
//! the configuration model, the [`SecurityEvent`](event::SecurityEvent) that every part emits,
//! and sealing (envelope encryption of secret material under a root key). It has no I/O beyond
//! reading the configuration file and the root key file.

pub mod auth;
pub mod clock;
pub mod config;
pub mod event;
pub mod ids;
pub mod seal;
pub mod secret;

pub use clock::{Clock, SystemClock};
pub use secret::Secret;
