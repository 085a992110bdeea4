//! Storage for the control plane.
//!
//! Each domain states what it needs from storage as a trait here (`MetaRepo`, `AuditRepo`,
//! `IdentityRepo`, ...); [`Store`] is all of them together. The embedded default implements them
//! on SQLite in WAL mode ([`sqlite::SqliteStore`]); a PostgreSQL implementation fills the same
//! traits for scale-out. SQL that only SQLite understands stays inside the `sqlite` module.
//!
//! The traits are synchronous: SQLite calls are short, and async callers run them on a
//! blocking thread.

pub mod audit;
pub mod identity;
pub mod meta;
pub mod sqlite;
pub mod supply;
pub mod vault;

pub use supply::{FindingRow, SbomRow, SupplyRepo};

pub use audit::{AuditRepo, StoredAuditRecord};
pub use identity::IdentityRepo;
pub use meta::MetaRepo;
pub use vault::{VaultOp, VaultRepo};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error("store query failed: {0}")]
    Query(String),
    /// A row exists that the operation expected not to (a unique name, say).
    #[error("`{0}` already exists")]
    Conflict(String),
    /// The row the operation needs does not exist.
    #[error("`{0}` not found")]
    NotFound(String),
    /// Stored data does not have the shape this version expects.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database was written by a newer Seawall.
    #[error("store schema version {found} is newer than this binary supports ({supported})")]
    TooNew { found: i64, supported: i64 },
}

/// Everything the control plane stores.
pub trait Store:
    MetaRepo + AuditRepo + IdentityRepo + SupplyRepo + VaultRepo + Send + Sync + 'static
{
}

impl<T> Store for T where
    T: MetaRepo + AuditRepo + IdentityRepo + SupplyRepo + VaultRepo + Send + Sync + 'static
{
}
