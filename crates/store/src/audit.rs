//! Storage of the hash-chained audit log.
//!
//! The chain itself (what is hashed and how it is verified) belongs to the `audit` crate; the
//! store only appends records atomically after the last one and reads them back in order.

use crate::StoreError;

/// One stored audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditRecord {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// The record as the audit crate serialised it (JSON text including its own hash).
    pub body: String,
}

/// Append-only storage for audit records.
pub trait AuditRepo {
    /// Appends `count` records after the current last one, in one transaction: `build` is
    /// called once per record with its sequence number and the body of the record before it
    /// (if any), and returns the new body. Returns the last sequence number written.
    fn audit_append(
        &self,
        count: usize,
        build: &mut dyn FnMut(i64, Option<&str>) -> String,
    ) -> Result<i64, StoreError>;

    /// Records with `seq > after`, at most `limit`, in order.
    fn audit_records(&self, after: i64, limit: usize)
        -> Result<Vec<StoredAuditRecord>, StoreError>;
}
