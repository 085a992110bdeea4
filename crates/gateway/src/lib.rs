//! Seawall's identity-aware reverse proxy.
//!
//! The gateway sits in front of web services. Every request is authenticated (a bearer access
//! token, or the session cookie from the built-in sign-in pages) and authorized by policy with
//! its context (source address and country, time, MFA age, device, behavioural risk) before a
//! byte of it reaches the upstream. Allowed requests are forwarded with `X-Forwarded-*`
//! headers and a signed identity assertion; refused ones are answered here and audited.
//!
//! The same decisions are offered to other proxies through forward-auth
//! (`/.seawall/auth`). Token verification, policy evaluation and the audit log are provided by
//! the caller through the traits in [`access`]; see [`Gateway::new`].

pub mod access;
pub mod assertion;
pub mod demo;
mod forward;
mod forward_auth;
mod gateway;
pub mod metrics;
mod pages;
pub mod policy;
mod proxy;
pub mod redirect;
pub mod remote;
mod respond;
pub mod routes;
pub mod tls;
mod upstream;

pub use access::{
    AccessDecision, AccessRequest, Authenticate, Authorize, ContextSummary, DecisionRecord,
    DecisionSink, NoAudit, Verdict,
};
pub use assertion::{AssertionKey, AssertionSigner};
pub use gateway::{Gateway, GatewayError, GatewayParts, HEADER_READ_TIMEOUT};
pub use metrics::GatewayMetrics;
pub use policy::{reload, watch_policy_dir, PolicyAuthorizer};
pub use remote::{spawn_sync, RemoteError, RemoteSignIn};
pub use respond::Body;
