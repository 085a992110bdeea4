//! Errors of the admin surface and of starting the service.
//!
//! Sign-in steps answer with [`AuthError`](seawall_core::auth::AuthError), whose messages are
//! safe to show to anyone; [`IdentityError`] is for administrators and operators and may name
//! users and groups.

use seawall_core::auth::AuthError;
use seawall_core::seal::SealError;
use seawall_store::StoreError;

/// Why an admin operation or the service's start failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A user or group name that breaks the naming rules.
    #[error("name `{name}` is invalid: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// A password that the policy refuses (the password itself is never shown).
    #[error("the password is refused: {0}")]
    WeakPassword(&'static str),
    #[error("user `{0}` already exists")]
    UserExists(String),
    #[error("user `{0}` does not exist")]
    NoSuchUser(String),
    #[error("group `{0}` already exists")]
    GroupExists(String),
    #[error("group `{0}` does not exist")]
    NoSuchGroup(String),
    #[error("session `{0}` does not exist")]
    NoSuchSession(String),
    #[error("no lockout for `{0}`")]
    NoSuchLockout(String),
    /// The configuration cannot work for the identity service.
    #[error("config `{key}`: {message}")]
    Config { key: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealed material (a seed, a signing key) does not open: wrong root key or tampering.
    #[error("sealed identity data cannot be opened: {0}")]
    Seal(#[from] SealError),
    /// Stored data this version cannot use (a bad PHC string, an unknown key algorithm).
    #[error("stored identity data is corrupt: {0}")]
    Corrupt(String),
}

impl IdentityError {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            IdentityError::InvalidName { .. } | IdentityError::WeakPassword(_) => 400,
            IdentityError::UserExists(_) | IdentityError::GroupExists(_) => 409,
            IdentityError::NoSuchUser(_)
            | IdentityError::NoSuchGroup(_)
            | IdentityError::NoSuchSession(_)
            | IdentityError::NoSuchLockout(_) => 404,
            IdentityError::Store(StoreError::Unavailable(_)) => 503,
            _ => 500,
        }
    }
}

/// Inside a sign-in step, a failure of our own (store down, sealed data unreadable) is
/// reported to the client as "unavailable", never with its details; the caller logs them.
impl From<IdentityError> for AuthError {
    fn from(e: IdentityError) -> Self {
        tracing::warn!(error = %e, "identity service failure during sign-in");
        AuthError::Unavailable
    }
}
