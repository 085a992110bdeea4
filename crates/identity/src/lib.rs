//! Seawall's identity provider: users and groups, mandatory MFA, sessions and tokens.
//!
//! [`IdentityService`] is the control plane's half: it signs users in (password, then a TOTP or
//! recovery code; a user without a factor can only enroll one), issues short-lived JWT access
//! tokens (RFC 9068) and session tokens, rotates refresh tokens and detects their reuse, keeps
//! signing keys (rotated on a schedule, private halves sealed) and records revocations. It also
//! carries the admin surface (users, groups, lockouts) that the server exposes over HTTP and
//! the CLI.
//!
//! [`Verifier`] is the gateway's half: it holds only the published keys ([`Jwks`]) and the
//! [`RevocationSet`], verifies tokens locally and never touches the store, so the separate
//! `seawall proxy` process can use it with what it fetched from the control plane.
//!
//! Every sign-in step, factor change, token issue/refresh/revoke, lockout and admin change is
//! written to the audit log. Secrets (passwords, seeds, tokens, codes) are never logged,
//! audited or shown by `Debug`; opaque tokens and recovery codes are stored only as keyed
//! hashes, TOTP seeds and signing keys only sealed.

mod admin;
mod error;
mod jws;
mod keys;
mod password;
mod revocation;
mod service;
mod signin;
mod throttle;
mod tokens;
pub mod totp;
mod verifier;

pub use admin::{AdminContext, FactorInfo, Group, Lockout, SessionInfo, User};
pub use error::IdentityError;
pub use jws::{Algorithm, Jwk, Jwks};
pub use revocation::{Revocation, RevocationDelta, RevocationKind, RevocationSet, UserRevocation};
pub use service::IdentityService;
pub use totp::{qr_svg, qr_terminal};
pub use verifier::{JwksError, TokenKind, Verifier, LEEWAY_SECS};
