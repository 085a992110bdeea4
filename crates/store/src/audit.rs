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
    /// Appends one record after the current last one, atomically: `build` receives the next
    /// sequence number and the body of the last record (if any) and returns the new body.
    fn audit_append(
        &self,
        build: &mut dyn FnMut(i64, Option<&str>) -> String,
    ) -> Result<i64, StoreError>;

    /// Records with `seq > after`, at most `limit`, in order.
    fn audit_records(&self, after: i64, limit: usize)
        -> Result<Vec<StoredAuditRecord>, StoreError>;
}
