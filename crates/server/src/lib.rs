//! The control plane: everything `seawall server` runs, and the shared start-up that
//! `seawall up` and the local admin commands use.
//!
//! - [`bootstrap`] opens a data directory: the root key, the store, the data key, the audit log.
//! - [`tls`] loads or generates the listener certificate.
//! - [`serve`] runs an axum router over TLS (or plain HTTP) with the peer address attached.
//! - [`unseal`] starts a data directory sealed with Shamir key shares and unseals it.

pub mod access;
pub mod api;
pub mod bootstrap;
pub mod metrics;
pub mod run;
pub mod serve;
pub mod signin_metrics;
pub mod tls;
pub mod unseal;

pub use bootstrap::{Bootstrap, BootstrapError, State};
