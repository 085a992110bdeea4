//! The vault's error type, and how each error is answered over HTTP.
//!
//! Vault clients read the status code and a JSON body `{"errors": ["..."]}`; hvac maps 400 to
//! `InvalidRequest`, 403 to `Forbidden`, 404 to `InvalidPath`, 503 to `VaultDown`. Messages
//! name the input and what is wrong, and never carry a secret value.

use seawall_store::StoreError;

/// Why a vault operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The request is malformed or asks for something not allowed by the data: 400.
    #[error("{0}")]
    Invalid(String),
    /// No token, an unknown or expired token, or a policy that does not grant the path: 403.
    #[error("permission denied")]
    PermissionDenied,
    /// Nothing is at the path (or no engine is mounted there): 404.
    #[error("{0}")]
    NotFound(String),
    /// The path exists but does not support the method: 405.
    #[error("unsupported operation: {0}")]
    Unsupported(String),
    /// The vault is sealed: 503.
    #[error("Vault is sealed")]
    Sealed,
    /// A check-and-set or similar precondition failed: 400 as Vault answers it.
    #[error("check-and-set parameter did not match the current version")]
    CasMismatch,
    /// Something the vault depends on (a database) is unreachable or refused: 502 in our
    /// answers; the message says which and why, without credentials.
    #[error("{0}")]
    Upstream(String),
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// A sealed value could not be opened (wrong key or tampering).
    #[error("sealed value `{0}` could not be opened")]
    Unseal(String),
    /// A bug or an unexpected state: 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl VaultError {
    /// The HTTP status Vault uses for this error.
    pub fn status(&self) -> u16 {
        match self {
            VaultError::Invalid(_) | VaultError::CasMismatch => 400,
            VaultError::PermissionDenied => 403,
            VaultError::NotFound(_) => 404,
            VaultError::Unsupported(_) => 405,
            VaultError::Sealed => 503,
            VaultError::Upstream(_) => 502,
            VaultError::Store(_) | VaultError::Unseal(_) | VaultError::Internal(_) => 500,
        }
    }

    /// Shorthand for [`VaultError::Invalid`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        VaultError::Invalid(msg.into())
    }
}
